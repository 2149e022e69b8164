//! Just enough DER to read the subject common name (CN) of a client certificate, for
//! `identity_as_username`. Every step is bounds-checked; anything unexpected gives `None`.

/// OID 2.5.4.3 (id-at-commonName), DER content bytes.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xA0; // [0] EXPLICIT, constructed

/// One TLV: (tag, contents, the bytes after it). Only low tag numbers and definite
/// lengths up to 4 bytes, which is all DER certificates use.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1F == 0x1F {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = tlv(input)?;
    (tag == want).then_some((body, rest))
}

/// The first CN of the certificate's subject, decoded to a string.
pub fn subject_common_name(cert_der: &[u8]) -> Option<String> {
    let (cert, _) = expect(cert_der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    let (_serial, rest) = expect(rest, INTEGER)?;
    let (_signature_alg, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (_validity, rest) = expect(rest, SEQUENCE)?;
    let (subject, _) = expect(rest, SEQUENCE)?;
    let mut rdns = subject;
    while !rdns.is_empty() {
        let (set, next) = expect(rdns, SET)?;
        rdns = next;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (atv, next) = expect(atvs, SEQUENCE)?;
            atvs = next;
            let (oid, value) = expect(atv, OID)?;
            if oid == OID_COMMON_NAME {
                let (tag, body, _) = tlv(value)?;
                return decode_string(tag, body);
            }
        }
    }
    None
}

/// X.520 DirectoryString forms.
fn decode_string(tag: u8, body: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, TeletexString (ASCII in practice), IA5String
        0x0C | 0x13 | 0x14 | 0x16 => std::str::from_utf8(body).ok().map(str::to_owned),
        // BMPString: UTF-16BE
        0x1E => {
            if body.len() % 2 != 0 {
                return None;
            }
            let units = body
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(dn: rcgen::DistinguishedName) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        params.distinguished_name = dn;
        params.self_signed(&key).expect("sign").der().to_vec()
    }

    #[test]
    fn reads_the_cn_among_other_attributes() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "DE");
        dn.push(rcgen::DnType::OrganizationName, "midge tests");
        dn.push(rcgen::DnType::CommonName, "sensor-7");
        assert_eq!(
            subject_common_name(&cert_with(dn)).as_deref(),
            Some("sensor-7")
        );
    }

    #[test]
    fn utf8_and_bmp_strings() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(
            rcgen::DnType::CommonName,
            rcgen::DnValue::Utf8String("zähler".into()),
        );
        assert_eq!(
            subject_common_name(&cert_with(dn)).as_deref(),
            Some("zähler")
        );
        let bmp: Vec<u8> = "Ω1".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode_string(0x1E, &bmp).as_deref(), Some("Ω1"));
        assert_eq!(decode_string(0x1E, &[0x00]), None);
    }

    #[test]
    fn no_cn_gives_none() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::OrganizationName, "no name");
        assert_eq!(subject_common_name(&cert_with(dn)), None);
    }

    #[test]
    fn garbage_and_truncation_never_panic() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "x");
        let der = cert_with(dn);
        for n in 0..der.len() {
            let _ = subject_common_name(&der[..n]);
        }
        assert_eq!(subject_common_name(&[]), None);
        assert_eq!(
            subject_common_name(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
            None
        );
        assert_eq!(subject_common_name(&[0x1F, 0x00]), None);
    }
}
