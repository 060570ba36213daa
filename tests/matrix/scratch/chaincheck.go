// chaincheck: check 2 of the matrix for an image with no shell, no libc and no
// openssl (FROM scratch): a static Go binary, the way most such images verify
// TLS. Go reads the system roots from SSL_CERT_FILE / SSL_CERT_DIR, else from
// /etc/ssl/certs/ca-certificates.crt and the other usual places, so it trusts
// exactly what the image (or the hook) gives it.
//
//	chaincheck FIXTURES_DIR    one line a certificate; exit 1 on any failure
package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// As tests/matrix/chain-check.sh: the intermediates now, the demo leaves at a
// time inside their validity, each through the intermediate that issued it.
var intermediates = strings.Fields("r2m01 r2m02 r2m03 r2m04 r4m01 r4m02 r4m03 r4m04 " +
	"e2m01 e2m02 e2m03 e2m04 e3m01 e3m02 e3m03 e3m04")
var leaves = [][2]string{{"1", "r2m03"}, {"2", "r4m02"}, {"3", "e2m03"}, {"4", "e3m02"}}

const leafTime = 1740304936

func load(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

func verify(cert *x509.Certificate, via *x509.Certificate, at time.Time) error {
	roots, err := x509.SystemCertPool()
	if err != nil {
		return err
	}
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if via != nil {
		opts.Intermediates = x509.NewCertPool()
		opts.Intermediates.AddCert(via)
	}
	_, err = cert.Verify(opts)
	return err
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: chaincheck FIXTURES_DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	fmt.Println("stack: Go crypto/x509 (static, no libc)")
	failed := false
	check := func(label string, err error) {
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", label, err)
			failed = true
		} else {
			fmt.Printf("ok   %s\n", label)
		}
	}
	for _, name := range intermediates {
		cert, err := load(filepath.Join(dir, name+".pem"))
		if err == nil {
			err = verify(cert, nil, time.Now())
		}
		check(name, err)
	}
	for _, pair := range leaves {
		leaf, err := load(filepath.Join(dir, "valid.rootca"+pair[0]+".demo.amazontrust.com.pem"))
		var via *x509.Certificate
		if err == nil {
			via, err = load(filepath.Join(dir, pair[1]+".pem"))
		}
		if err == nil {
			err = verify(leaf, via, time.Unix(leafTime, 0))
		}
		check("valid.rootca"+pair[0]+" (via "+pair[1]+")", err)
	}
	if failed {
		os.Exit(1)
	}
}
