package v1

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAnnotationHelpers(t *testing.T) {
	cases := []struct {
		name         string
		annotations  map[string]string
		wantDisabled bool
		wantInterval time.Duration
		wantTimeout  time.Duration
		wantEvery    time.Duration // FluxReport.GetInterval: zero means "use the reporter's flag"
	}{
		{
			name:         "no annotations use the defaults",
			wantInterval: DefaultInstanceInterval, wantTimeout: DefaultInstanceTimeout,
		},
		{
			name:         "reconcile disabled suspends, in any letter case",
			annotations:  map[string]string{ReconcileAnnotation: "Disabled"},
			wantDisabled: true, wantInterval: DefaultInstanceInterval, wantTimeout: DefaultInstanceTimeout,
		},
		{
			name:         "reconcile enabled does not suspend",
			annotations:  map[string]string{ReconcileAnnotation: EnabledValue},
			wantInterval: DefaultInstanceInterval, wantTimeout: DefaultInstanceTimeout,
		},
		{
			name: "valid durations override the defaults",
			annotations: map[string]string{
				ReconcileEveryAnnotation: "10m", ReconcileTimeoutAnnotation: "90s",
			},
			wantInterval: 10 * time.Minute, wantTimeout: 90 * time.Second, wantEvery: 10 * time.Minute,
		},
		{
			name: "malformed or non-positive durations are ignored",
			annotations: map[string]string{
				ReconcileEveryAnnotation: "ten minutes", ReconcileTimeoutAnnotation: "-1s",
			},
			wantInterval: DefaultInstanceInterval, wantTimeout: DefaultInstanceTimeout,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			meta := metav1.ObjectMeta{Name: DefaultName, Annotations: tc.annotations}
			fi := &FluxInstance{ObjectMeta: meta}
			fr := &FluxReport{ObjectMeta: meta}
			if got := fi.IsDisabled(); got != tc.wantDisabled {
				t.Errorf("FluxInstance.IsDisabled() = %v, want %v", got, tc.wantDisabled)
			}
			if got := fr.IsDisabled(); got != tc.wantDisabled {
				t.Errorf("FluxReport.IsDisabled() = %v, want %v", got, tc.wantDisabled)
			}
			if got := fi.GetInterval(); got != tc.wantInterval {
				t.Errorf("FluxInstance.GetInterval() = %v, want %v", got, tc.wantInterval)
			}
			if got := fi.GetTimeout(); got != tc.wantTimeout {
				t.Errorf("FluxInstance.GetTimeout() = %v, want %v", got, tc.wantTimeout)
			}
			if got := fr.GetInterval(); got != tc.wantEvery {
				t.Errorf("FluxReport.GetInterval() = %v, want %v", got, tc.wantEvery)
			}
		})
	}
}

func TestFluxInstanceDefaults(t *testing.T) {
	fi := &FluxInstance{}
	if got := fi.GetComponents(); len(got) != 4 || got[0] != "source-controller" || got[3] != "notification-controller" {
		t.Errorf("default components = %v", got)
	}
	// The defaults are a copy: changing them must not change the next caller's.
	fi.GetComponents()[0] = "changed"
	if DefaultComponents[0] != "source-controller" {
		t.Errorf("GetComponents returned the shared default slice")
	}
	if !fi.GetWait() || !fi.GetMigrateResources() || !fi.GetNetworkPolicy() {
		t.Errorf("wait, migrateResources and networkPolicy default to true")
	}
	off := false
	fi.Spec = FluxInstanceSpec{Wait: &off, MigrateResources: &off, Cluster: &Cluster{NetworkPolicy: &off},
		Components: []Component{"source-controller"}}
	if fi.GetWait() || fi.GetMigrateResources() || fi.GetNetworkPolicy() {
		t.Errorf("explicit false values are kept")
	}
	if got := fi.GetComponents(); len(got) != 1 {
		t.Errorf("explicit components = %v", got)
	}
}

func TestReadyCondition(t *testing.T) {
	fr := &FluxReport{}
	if fr.GetReadyCondition() != nil {
		t.Fatal("no Ready condition before the first report")
	}
	fr.SetConditions([]metav1.Condition{
		{Type: ReconcilingCondition, Status: metav1.ConditionFalse},
		{Type: ReadyCondition, Status: metav1.ConditionTrue, Message: "Reporting finished in 1s"},
	})
	if c := fr.GetReadyCondition(); c == nil || c.Message != "Reporting finished in 1s" {
		t.Fatalf("GetReadyCondition() = %+v", c)
	}
}
