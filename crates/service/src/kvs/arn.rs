//! Kinesis Video stream ARNs, as Connect hands them to the start-streaming Lambda.

/// A parsed Kinesis Video stream ARN:
/// `arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation-time>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamArn {
    pub arn: String,
    pub region: String,
    pub name: String,
}

impl StreamArn {
    pub fn parse(arn: &str) -> Option<StreamArn> {
        let rest = arn.strip_prefix("arn:")?;
        let mut parts = rest.splitn(5, ':');
        let (partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let (kind, name_and_time) = resource.split_once('/')?;
        let (name, time) = name_and_time.rsplit_once('/')?;
        let valid = partition.starts_with("aws")
            && service == "kinesisvideo"
            && !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !account.is_empty()
            && account.bytes().all(|b| b.is_ascii_digit())
            && kind == "stream"
            && (1..=256).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !time.is_empty()
            && time.bytes().all(|b| b.is_ascii_alphanumeric());
        valid.then(|| StreamArn {
            arn: arn.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_stream_arns() {
        let arn = StreamArn::parse(
            "arn:aws:kinesisvideo:eu-west-2:123456789012:stream/pre-connect-alias-contact-9f1c/1641312355374",
        )
        .unwrap();
        assert_eq!(arn.region, "eu-west-2");
        assert_eq!(arn.name, "pre-connect-alias-contact-9f1c");
        assert!(
            StreamArn::parse("arn:aws:kinesisvideo:us-east-1:000000000000:stream/demo/0").is_some()
        );
    }

    #[test]
    fn refuses_other_arns() {
        for bad in [
            "",
            "arn:aws:s3:::bucket",
            "arn:aws:kinesisvideo:us-east-1:1234:stream/name",
            "arn:aws:kinesisvideo:us-east-1:abc:stream/name/1",
            "arn:aws:kinesisvideo::1234:stream/name/1",
            "arn:aws:kinesisvideo:us-east-1:1234:channel/name/1",
            "arn:aws:kinesisvideo:us-east-1:1234:stream/na me/1",
        ] {
            assert!(StreamArn::parse(bad).is_none(), "{bad}");
        }
    }
}
