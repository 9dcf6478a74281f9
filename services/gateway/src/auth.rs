//! The bearer token of the admin RPCs.

use tonic::metadata::MetadataMap;

use crate::status::RequestError;

/// The configured admin token (`None`: admin RPCs are open).
#[derive(Clone, Default)]
pub struct AdminToken(Option<String>);

impl AdminToken {
    pub fn new(token: Option<String>) -> Self {
        AdminToken(token)
    }

    /// Ok when no token is configured or the request carries it.
    pub fn check(&self, metadata: &MetadataMap) -> Result<(), RequestError> {
        match &self.0 {
            None => Ok(()),
            Some(t) => check_bearer(metadata, t),
        }
    }
}

/// `authorization: Bearer <token>`: missing or malformed → unauthenticated (the caller did not
/// say who it is), present but wrong → wrong token (it did, and may not).
pub fn check_bearer(metadata: &MetadataMap, expected: &str) -> Result<(), RequestError> {
    let Some(value) = metadata.get("authorization") else {
        return Err(RequestError::Unauthenticated(
            "missing authorization metadata (want \"Bearer <token>\")",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| RequestError::Unauthenticated("authorization metadata is not ASCII text"))?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(RequestError::Unauthenticated(
                "authorization metadata is not \"Bearer <token>\"",
            ));
        }
    };
    if token.is_empty() {
        return Err(RequestError::Unauthenticated("empty bearer token"));
    }
    if !constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        return Err(RequestError::WrongToken);
    }
    Ok(())
}

/// Compares without stopping at the first difference, so response time does not reveal how much
/// of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::status_of;
    use tonic::Code;

    fn meta(value: Option<&str>) -> MetadataMap {
        let mut m = MetadataMap::new();
        if let Some(v) = value {
            m.insert("authorization", v.parse().unwrap());
        }
        m
    }

    #[test]
    fn bearer_tokens() {
        let check = |v| check_bearer(&meta(v), "s3cret").map_err(|e| status_of(&e).code());
        assert_eq!(check(Some("Bearer s3cret")), Ok(()));
        assert_eq!(check(Some("bearer s3cret")), Ok(()));
        assert_eq!(check(None), Err(Code::Unauthenticated));
        assert_eq!(check(Some("s3cret")), Err(Code::Unauthenticated));
        assert_eq!(check(Some("Basic s3cret")), Err(Code::Unauthenticated));
        assert_eq!(check(Some("Bearer ")), Err(Code::Unauthenticated));
        assert_eq!(check(Some("Bearer s3cre")), Err(Code::PermissionDenied));
        assert_eq!(check(Some("Bearer s3cret2")), Err(Code::PermissionDenied));
        assert!(AdminToken::new(None).check(&meta(None)).is_ok());
    }
}
