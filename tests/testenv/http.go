package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// FreeAddr returns a loopback host:port free at the time of the call.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// WaitReady waits until GET http://<healthAddr>/readyz answers 200.
func WaitReady(healthAddr string, timeout time.Duration) error {
	return Eventually(context.Background(), timeout, func(context.Context) error {
		resp, err := http.Get("http://" + healthAddr + "/readyz")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s: %s", resp.Status, body)
		}
		return nil
	})
}
