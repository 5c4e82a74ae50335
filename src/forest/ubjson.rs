//! Decoder for the UBJSON subset XGBoost writes (`model.ubj`, MLflow's default model format),
//! into the same `serde_json::Value` a `model.json` parses to, so one reader serves both.
//! Everything is big-endian; object keys carry no `S` marker; typed, counted arrays
//! (`[$d#L...`) hold the bulk of a model.

use serde_json::{Map, Number, Value};

#[derive(Debug, thiserror::Error)]
#[error("invalid UBJSON at byte {at}: {what}")]
pub struct UbjError {
    pub at: usize,
    pub what: String,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

pub fn decode(bytes: &[u8]) -> Result<Value, UbjError> {
    let mut c = Cursor { bytes, pos: 0, depth: 0 };
    let v = c.value(None)?;
    Ok(v)
}

impl<'a> Cursor<'a> {
    fn err<T>(&self, what: impl Into<String>) -> Result<T, UbjError> {
        Err(UbjError { at: self.pos, what: what.into() })
    }

    fn byte(&mut self) -> Result<u8, UbjError> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => self.err("unexpected end of data"),
        }
    }

    fn peek(&self) -> Result<u8, UbjError> {
        match self.bytes.get(self.pos) {
            Some(&b) => Ok(b),
            None => self.err("unexpected end of data"),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], UbjError> {
        if self.pos + n > self.bytes.len() {
            return self.err(format!("needs {n} more bytes"));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn int_of(&mut self, marker: u8) -> Result<i64, UbjError> {
        Ok(match marker {
            b'i' => self.take(1)?[0] as i8 as i64,
            b'U' => self.take(1)?[0] as i64,
            b'I' => i16::from_be_bytes(self.take(2)?.try_into().unwrap()) as i64,
            b'l' => i32::from_be_bytes(self.take(4)?.try_into().unwrap()) as i64,
            b'L' => i64::from_be_bytes(self.take(8)?.try_into().unwrap()),
            m => return self.err(format!("expected an integer marker, found {:?}", m as char)),
        })
    }

    fn length(&mut self) -> Result<usize, UbjError> {
        let m = self.byte()?;
        let n = self.int_of(m)?;
        if n < 0 || n as usize > self.bytes.len() {
            return self.err(format!("impossible length {n}"));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String, UbjError> {
        let n = self.length()?;
        let s = self.take(n)?;
        match std::str::from_utf8(s) {
            Ok(t) => Ok(t.to_string()),
            Err(_) => self.err("string is not UTF-8"),
        }
    }

    fn value(&mut self, typed: Option<u8>) -> Result<Value, UbjError> {
        let m = match typed {
            Some(t) => t,
            None => {
                let mut m = self.byte()?;
                while m == b'N' {
                    m = self.byte()?;
                }
                m
            }
        };
        Ok(match m {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::Number(self.int_of(m)?.into()),
            b'd' => {
                let v = f32::from_be_bytes(self.take(4)?.try_into().unwrap());
                number(v as f64)
            }
            b'D' => {
                let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                number(v)
            }
            b'C' => Value::String((self.byte()? as char).to_string()),
            b'S' | b'H' => Value::String(self.string()?),
            b'[' => self.array()?,
            b'{' => self.object()?,
            other => return self.err(format!("unknown marker {:?}", other as char)),
        })
    }

    fn container_header(&mut self) -> Result<(Option<u8>, Option<usize>), UbjError> {
        let mut typ = None;
        if self.peek()? == b'$' {
            self.pos += 1;
            typ = Some(self.byte()?);
        }
        let mut count = None;
        if self.peek()? == b'#' {
            self.pos += 1;
            count = Some(self.length()?);
        } else if typ.is_some() {
            return self.err("a typed container needs a count");
        }
        Ok((typ, count))
    }

    fn enter(&mut self) -> Result<(), UbjError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        Ok(())
    }

    fn array(&mut self) -> Result<Value, UbjError> {
        self.enter()?;
        let (typ, count) = self.container_header()?;
        let mut out = Vec::with_capacity(count.unwrap_or(0).min(1 << 20));
        match count {
            Some(n) => {
                for _ in 0..n {
                    out.push(self.value(typ)?);
                }
            }
            None => loop {
                if self.peek()? == b']' {
                    self.pos += 1;
                    break;
                }
                out.push(self.value(None)?);
            },
        }
        self.depth -= 1;
        Ok(Value::Array(out))
    }

    fn object(&mut self) -> Result<Value, UbjError> {
        self.enter()?;
        let (typ, count) = self.container_header()?;
        let mut out = Map::new();
        match count {
            Some(n) => {
                for _ in 0..n {
                    let k = self.string()?;
                    let v = self.value(typ)?;
                    out.insert(k, v);
                }
            }
            None => loop {
                if self.peek()? == b'}' {
                    self.pos += 1;
                    break;
                }
                let k = self.string()?;
                let v = self.value(None)?;
                out.insert(k, v);
            },
        }
        self.depth -= 1;
        Ok(Value::Object(out))
    }
}

fn number(v: f64) -> Value {
    // JSON has no NaN or infinity; XGBoost stores them only in places a scorer does not read.
    Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_objects_typed_arrays_and_strings() {
        // {"a": [$d#i 2 1.5 -2.0], "b": "hi", "c": 7}
        let mut b = vec![b'{'];
        b.extend_from_slice(&[b'i', 1, b'a', b'[', b'$', b'd', b'#', b'i', 2]);
        b.extend_from_slice(&1.5f32.to_be_bytes());
        b.extend_from_slice(&(-2.0f32).to_be_bytes());
        b.extend_from_slice(&[b'i', 1, b'b', b'S', b'i', 2, b'h', b'i']);
        b.extend_from_slice(&[b'i', 1, b'c', b'U', 7]);
        b.push(b'}');
        let v = decode(&b).unwrap();
        assert_eq!(v, serde_json::json!({"a": [1.5, -2.0], "b": "hi", "c": 7}));
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let b = [b'{', b'i', 5, b'a'];
        assert!(decode(&b).is_err());
        assert!(decode(&[b'[', b'$', b'd', b'#', b'L', 0x7f, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
