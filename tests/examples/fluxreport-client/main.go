// Command fluxreport-client uses the generated clientset, informers, listers
// and apply-configurations of github.com/fluxops/flux-operator/generated the
// way another project would: it server-side applies a FluxReport and its
// status, watches the change arrive through a shared informer, and reads the
// report back from the lister.
//
// Usage: fluxreport-client [-kubeconfig FILE] [-namespace NS]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	fluxv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
	fluxv1ac "github.com/fluxops/flux-operator/generated/applyconfiguration/fluxcd/v1"
	"github.com/fluxops/flux-operator/generated/clientset/versioned"
	"github.com/fluxops/flux-operator/generated/informers/externalversions"
)

const fieldManager = "fluxreport-client-example"

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "path to a kubeconfig file")
	namespace := flag.String("namespace", fluxv1.DefaultNamespace, "namespace of the FluxReport")
	timeout := flag.Duration("timeout", 30*time.Second, "how long to wait for the informer to see the change")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *kubeconfig, *namespace); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig, ns string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("failed to load kubeconfig: %w", err)
	}
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("failed to create clientset: %w", err)
	}

	// Informer first, so the applied status arrives as a watch event.
	factory := externalversions.NewSharedInformerFactoryWithOptions(cs, 10*time.Minute, externalversions.WithNamespace(ns))
	reports := factory.Fluxcd().V1().FluxReports()
	ready := make(chan string, 1)
	if _, err := reports.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			r := obj.(*fluxv1.FluxReport)
			if c := r.GetReadyCondition(); c != nil && c.Status == metav1.ConditionTrue {
				select {
				case ready <- c.Message:
				default:
				}
			}
		},
	}); err != nil {
		return fmt.Errorf("failed to add event handler: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer cache for %v did not sync", typ)
		}
	}

	spec := fluxv1ac.FluxReport(fluxv1.DefaultName, ns).
		WithSpec(fluxv1ac.FluxReportSpec().
			WithDistribution(fluxv1ac.FluxDistributionStatus().
				WithEntitlement(fluxv1.DistributionUnknown).
				WithStatus(fluxv1.DistributionInstalled).
				WithVersion("v2.9.5")))
	applied, err := cs.FluxcdV1().FluxReports(ns).Apply(ctx, spec, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("failed to apply FluxReport: %w", err)
	}
	fmt.Printf("applied %s/%s distribution=%s\n", applied.Namespace, applied.Name, applied.Spec.Distribution.Version)

	status := fluxv1ac.FluxReport(fluxv1.DefaultName, ns).
		WithStatus(fluxv1ac.FluxReportStatus().
			WithConditions(metav1ac.Condition().
				WithType(fluxv1.ReadyCondition).
				WithStatus(metav1.ConditionTrue).
				WithReason(fluxv1.ReconciliationSucceededReason).
				WithMessage("Reporting finished in 1ms").
				WithLastTransitionTime(metav1.Now())))
	if _, err := cs.FluxcdV1().FluxReports(ns).ApplyStatus(ctx, status, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		return fmt.Errorf("failed to apply FluxReport status: %w", err)
	}

	select {
	case msg := <-ready:
		fmt.Printf("watched Ready=True: %s\n", msg)
	case <-ctx.Done():
		return fmt.Errorf("the informer did not see the status change: %w", ctx.Err())
	}

	listed, err := reports.Lister().FluxReports(ns).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("failed to list from the lister: %w", err)
	}
	for _, r := range listed {
		fmt.Printf("lister: %s/%s version=%s ready=%s\n", r.Namespace, r.Name, r.Spec.Distribution.Version, r.GetReadyCondition().Status)
	}
	return nil
}
