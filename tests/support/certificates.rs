//! Self-signed certificates for ACM on moto, made with the `cryptography` package of moto's
//! virtualenv (no crypto crate is compiled for the tests).

use std::path::PathBuf;
use std::process::Command;

pub struct Pem {
    pub certificate: Vec<u8>,
    pub private_key: Vec<u8>,
}

/// A self-signed certificate made with the `cryptography` package of moto's virtualenv
/// (no crypto crate is compiled for the tests).
pub fn self_signed(key: &str, names: &[&str]) -> Pem {
    const SCRIPT: &str = r#"
import datetime, json, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

kind, names = sys.argv[1], sys.argv[2:]
key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder()
    .subject_name(subject)
    .issuer_name(subject)
    .public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(days=1))
    .not_valid_after(now + datetime.timedelta(days=90))
    .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    .sign(key, hashes.SHA256())
)
json.dump({
    "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
    "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode(),
}, sys.stdout)
"#;
    let python = moto_python();
    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(key)
        .args(names)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "making a certificate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    Pem {
        certificate: v["certificate"].as_str().unwrap().as_bytes().to_vec(),
        private_key: v["private_key"].as_str().unwrap().as_bytes().to_vec(),
    }
}

/// The Python of moto's virtualenv, next to its server.
fn moto_python() -> PathBuf {
    super::moto::moto_server_path().with_file_name("python")
}

/// Imports a self-signed certificate for `names` (the first is the subject; `key` is `rsa`
/// or `ec`) into ACM; its ARN.
pub async fn import_self_signed(acm: &aws_sdk_acm::Client, key: &str, names: &[&str]) -> String {
    let pem = self_signed(key, names);
    acm.import_certificate()
        .certificate(aws_sdk_acm::primitives::Blob::new(pem.certificate))
        .private_key(aws_sdk_acm::primitives::Blob::new(pem.private_key))
        .send()
        .await
        .expect("ImportCertificate")
        .certificate_arn()
        .unwrap()
        .to_string()
}
