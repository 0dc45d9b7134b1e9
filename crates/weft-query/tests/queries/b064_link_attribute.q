# link attribute
{ link.messaging.operation = "publish" }
