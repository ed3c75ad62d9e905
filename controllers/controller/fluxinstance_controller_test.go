package controller

import (
	"fmt"
	"strings"
	"testing"
)

func TestEventMessagesFitTheAPIServerLimit(t *testing.T) {
	if got := eventMessage("Flux v2.9.5 applied\nDeployment/flux-system/source-controller configured"); !strings.HasSuffix(got, "configured") {
		t.Errorf("a short message was changed: %q", got)
	}
	var lines []string
	lines = append(lines, "Flux v2.9.5 applied")
	for i := range 60 {
		lines = append(lines, fmt.Sprintf("CustomResourceDefinition/example-%02d.toolkit.fluxcd.io created", i))
	}
	got := eventMessage(strings.Join(lines, "\n"))
	if len(got) > maxEventMessage {
		t.Fatalf("%d bytes, the limit is %d", len(got), maxEventMessage)
	}
	if !strings.HasPrefix(got, "Flux v2.9.5 applied\nCustomResourceDefinition/example-00") || !strings.Contains(got, "more") {
		t.Errorf("message = %q", got)
	}
	n := strings.Count(got, "\n")
	if want := fmt.Sprintf("… and %d more", len(lines)-n); !strings.HasSuffix(got, want) {
		t.Errorf("message ends %q, want %q", got[len(got)-20:], want)
	}
	if got := eventMessage(strings.Repeat("x", 2000)); len(got) > maxEventMessage {
		t.Errorf("one long line: %d bytes", len(got))
	}
}
