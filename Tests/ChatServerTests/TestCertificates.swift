import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway CA and a server certificate it signed for localhost and
/// 127.0.0.1, as PEM files in a fresh temporary directory.
struct TestCertificates {
  let directory: URL
  /// The CA certificate: a client's trust root.
  let caPath: String
  /// The server certificate, then the CA's.
  let certificateChainPath: String
  let privateKeyPath: String

  init() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-tls-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    caPath = directory.appendingPathComponent("ca.pem").path
    certificateChainPath = directory.appendingPathComponent("server-chain.pem").path
    privateKeyPath = directory.appendingPathComponent("server-key.pem").path

    let now = Date()
    let caKey = P256.Signing.PrivateKey()
    let caName = try DistinguishedName { CommonName("chat test CA") }
    let ca = try Certificate(
      version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
      notValidBefore: now - 300, notValidAfter: now + 3600, issuer: caName, subject: caName,
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
        Critical(KeyUsage(keyCertSign: true))
      },
      issuerPrivateKey: .init(caKey))

    let serverKey = P256.Signing.PrivateKey()
    let server = try Certificate(
      version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
      notValidBefore: now - 300, notValidAfter: now + 3600, issuer: caName,
      subject: try DistinguishedName { CommonName("localhost") },
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.notCertificateAuthority)
        Critical(KeyUsage(digitalSignature: true))
        try ExtendedKeyUsage([.serverAuth])
        SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
      },
      issuerPrivateKey: .init(caKey))

    let caPEM = try ca.serializeAsPEM().pemString
    try Data((caPEM + "\n").utf8).write(to: URL(fileURLWithPath: caPath))
    try Data((try server.serializeAsPEM().pemString + "\n" + caPEM + "\n").utf8)
      .write(to: URL(fileURLWithPath: certificateChainPath))
    try Data((serverKey.pemRepresentation + "\n").utf8).write(to: URL(fileURLWithPath: privateKeyPath))
  }

  func remove() {
    try? FileManager.default.removeItem(at: directory)
  }
}
