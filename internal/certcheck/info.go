package certcheck

import (
	"crypto/x509"
	"strconv"
	"time"
)

// CertInfo describes one certificate of a checked chain, for people and for
// the JSON report.
type CertInfo struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	DNSNames           []string  `json:"dns_names,omitempty"`
	IPAddresses        []string  `json:"ip_addresses,omitempty"`
	Key                string    `json:"key"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	IsCA               bool      `json:"is_ca"`
	ExtKeyUsage        []string  `json:"ext_key_usage,omitempty"`
	AIAIssuers         []string  `json:"aia_issuers,omitempty"`
	OCSPServers        []string  `json:"ocsp_servers,omitempty"`
}

func describe(c *x509.Certificate) CertInfo {
	ci := CertInfo{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		Serial:             c.SerialNumber.Text(16),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		DNSNames:           c.DNSNames,
		Key:                keyDesc(c.PublicKey),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		IsCA:               c.IsCA,
		AIAIssuers:         c.IssuingCertificateURL,
		OCSPServers:        c.OCSPServer,
	}
	for _, ip := range c.IPAddresses {
		ci.IPAddresses = append(ci.IPAddresses, ip.String())
	}
	for _, u := range c.ExtKeyUsage {
		ci.ExtKeyUsage = append(ci.ExtKeyUsage, extKeyUsageName(u))
	}
	for _, oid := range c.UnknownExtKeyUsage {
		ci.ExtKeyUsage = append(ci.ExtKeyUsage, oid.String())
	}
	return ci
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageAny:
		return "any"
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageTimeStamping:
		return "timeStamping"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSPSigning"
	}
	return "usage-" + strconv.Itoa(int(u))
}
