package fluxobj

import "testing"

func TestSafeURLDropsCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"https://github.com/org/repo": "https://github.com/org/repo",
		"https://x-access-token:s3cret@github.com/o/r": "https://github.com/o/r",
		"https://ghp_token@github.com/o/r":             "https://github.com/o/r",
		"ssh://git:pw@example.com/fleet":               "ssh://git@example.com/fleet",
		"oci://ghcr.io/org/manifests?token=abc#frag":   "oci://ghcr.io/org/manifests",
		"user:pass@minio.example.com":                  "minio.example.com",
		"minio.example.com:9000":                       "minio.example.com:9000",
	} {
		if got := SafeURL(in); got != want {
			t.Errorf("SafeURL(%q) = %q, want %q", in, got, want)
		}
	}
}
