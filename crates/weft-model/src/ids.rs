use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("expected {expected} hex characters, got {got}")]
    Length { expected: usize, got: usize },
    #[error("not a hex string: {0:?}")]
    NotHex(String),
    #[error("expected {expected} bytes, got {got}")]
    ByteLength { expected: usize, got: usize },
    #[error("all-zero id is invalid")]
    Zero,
}

macro_rules! id_type {
    ($name:ident, $n:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            pub const LEN: usize = $n;
            pub fn is_zero(&self) -> bool {
                self.0 == [0; $n]
            }
            /// Parses raw bytes (OTLP protobuf); rejects wrong lengths and the all-zero id.
            pub fn from_bytes(b: &[u8]) -> Result<Self, IdError> {
                let arr: [u8; $n] = b.try_into().map_err(|_| IdError::ByteLength {
                    expected: $n,
                    got: b.len(),
                })?;
                let id = $name(arr);
                if id.is_zero() {
                    return Err(IdError::Zero);
                }
                Ok(id)
            }
            /// Parses lowercase or uppercase hex; rejects wrong lengths and the all-zero id.
            pub fn from_hex(s: &str) -> Result<Self, IdError> {
                if s.len() != 2 * $n {
                    return Err(IdError::Length {
                        expected: 2 * $n,
                        got: s.len(),
                    });
                }
                let mut arr = [0u8; $n];
                hex::decode_to_slice(s, &mut arr).map_err(|_| IdError::NotHex(s.to_string()))?;
                let id = $name(arr);
                if id.is_zero() {
                    return Err(IdError::Zero);
                }
                Ok(id)
            }
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::from_hex(s)
            }
        }
    };
}

id_type!(
    TraceId,
    16,
    "A 16-byte W3C/OTLP trace id; displayed as 32 lowercase hex characters."
);
id_type!(
    SpanId,
    8,
    "An 8-byte W3C/OTLP span id; displayed as 16 lowercase hex characters."
);

impl TraceId {
    /// A stable 64-bit hash of the id (its low 8 bytes), for sharding and bloom filters.
    pub fn low_u64(&self) -> u64 {
        u64::from_be_bytes(self.0[8..16].try_into().expect("8 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let t = TraceId::from_hex("0102030405060708090A0b0c0d0e0f10").unwrap();
        assert_eq!(t.to_hex(), "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(
            TraceId::from_hex("abc"),
            Err(IdError::Length {
                expected: 32,
                got: 3
            })
        );
        assert_eq!(SpanId::from_hex("0000000000000000"), Err(IdError::Zero));
        assert!(matches!(
            SpanId::from_hex("zz00000000000000"),
            Err(IdError::NotHex(_))
        ));
        assert_eq!(
            SpanId::from_bytes(&[1, 2, 3]),
            Err(IdError::ByteLength {
                expected: 8,
                got: 3
            })
        );
    }
}
