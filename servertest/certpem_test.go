package servertest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

func TestWriteCertPEM(t *testing.T) {
	certFile, _, _, err := writeCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block in generated certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	file := WriteCertPEM(t, cert)
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("WriteCertPEM wrote %q, want %q", got, data)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(got) {
		t.Error("written file is not a usable CA certificate PEM")
	}

	var r recordTB
	if got := WriteCertPEM(&r, nil); got != "" || r.fatal == "" {
		t.Errorf("WriteCertPEM(nil) = %q, fatal %q; want \"\" and a failure", got, r.fatal)
	}
}
