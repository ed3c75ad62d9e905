package command

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

func newEventsCommand(o *options) *cobra.Command {
	var (
		forObject, typ string
		watchEvents    bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the events of the Flux controllers and of the operator, oldest first, as kubectl events does",
		Example: `  flux-operator events --for instance
  flux-operator events -A --type Warning
  flux-operator events --for kustomization/apps -n apps --watch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if typ != "" && typ != corev1.EventTypeNormal && typ != corev1.EventTypeWarning {
				return usagef("--type %q: use Normal or Warning", typ)
			}
			ctx, cancel := o.context()
			if watchEvents {
				cancel()
				ctx, cancel = context.WithCancel(context.Background())
			}
			defer cancel()
			sel := fields.Set{}
			if typ != "" {
				sel["type"] = typ
			}
			ns := ""
			if !o.allNamespaces {
				ns = o.namespace()
			}
			kinds := map[string]bool{}
			if forObject != "" {
				t, err := o.resolve(ctx, forObject, true)
				if err != nil {
					return err
				}
				sel["involvedObject.kind"], sel["involvedObject.name"] = t.kind, t.name
				ns = t.namespace
			} else {
				r, err := o.report(ctx)
				if err != nil {
					return err
				}
				for _, rs := range r.Spec.ReconcilersStatus {
					kinds[rs.Kind] = true
				}
				kinds["FluxReport"] = true
			}
			cfg, err := o.restConfig()
			if err != nil {
				return err
			}
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			opts := metav1.ListOptions{FieldSelector: sel.AsSelector().String()}
			list, err := cs.CoreV1().Events(ns).List(ctx, opts)
			if err != nil {
				return err
			}
			keep := func(e *corev1.Event) bool { return len(kinds) == 0 || kinds[e.InvolvedObject.Kind] }
			var shown []corev1.Event
			for i := range list.Items {
				if keep(&list.Items[i]) {
					shown = append(shown, list.Items[i])
				}
			}
			slices.SortStableFunc(shown, func(a, b corev1.Event) int { return eventTime(&a).Compare(eventTime(&b)) })
			w := cmd.OutOrStdout()
			withNS := ns == ""
			p := o.painter()
			if err := writeEvents(w, shown, withNS, p); err != nil {
				return err
			}
			if len(shown) == 0 && !watchEvents {
				printLine(cmd.ErrOrStderr(), "No events found (Kubernetes keeps them for an hour by default).")
			}
			if !watchEvents {
				return nil
			}
			opts.ResourceVersion = list.ResourceVersion
			return watchEventsFrom(ctx, cs, ns, opts, keep, w, withNS, p)
		},
	}
	f := cmd.Flags()
	f.StringVar(&forObject, "for", "", "Only the events of one object: instance, report or KIND/NAME.")
	f.StringVar(&typ, "type", "", "Only events of this type: Normal or Warning.")
	f.BoolVarP(&watchEvents, "watch", "w", false, "After listing, print the events as they come, until interrupted.")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "The events of every namespace.")
	mustComplete(cmd, "for", func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return o.completeTarget([]string{"instance", "report"}, anyFluxKind, toComplete)
	})
	mustComplete(cmd, "type", cobra.FixedCompletions([]cobra.Completion{corev1.EventTypeNormal, corev1.EventTypeWarning},
		cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func watchEventsFrom(ctx context.Context, cs kubernetes.Interface, ns string, opts metav1.ListOptions,
	keep func(*corev1.Event) bool, w io.Writer, withNS bool, p painter) error {
	wi, err := cs.CoreV1().Events(ns).Watch(ctx, opts)
	if err != nil {
		return err
	}
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		if ev.Type != watch.Added && ev.Type != watch.Modified {
			continue
		}
		e, ok := ev.Object.(*corev1.Event)
		if !ok || !keep(e) {
			continue
		}
		tw := table(w)
		printLine(tw, eventRow(e, withNS, p))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// writeEvents writes the events as a table, oldest first as they come.
func writeEvents(w io.Writer, events []corev1.Event, withNS bool, p painter) error {
	tw := table(w)
	printLine(tw, eventHeader(withNS, p))
	for i := range events {
		printLine(tw, eventRow(&events[i], withNS, p))
	}
	return tw.Flush()
}

// eventHeader and eventRow are a line of the events table, the TYPE column
// coloured by p: Warning in yellow.
func eventHeader(withNS bool, p painter) string {
	h := "LAST SEEN\t" + p.paint(plain, "TYPE") + "\tREASON\tOBJECT\tMESSAGE"
	if withNS {
		h = "NAMESPACE\t" + h
	}
	return h
}

func eventRow(e *corev1.Event, withNS bool, p painter) string {
	msg := firstLine(e.Message, 200)
	if e.Count > 1 {
		msg += fmt.Sprintf(" (x%d)", e.Count)
	}
	row := strings.Join([]string{age(eventTime(e)), p.paint(eventColour(e.Type), e.Type), e.Reason, e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name, msg}, "\t")
	if withNS {
		row = e.Namespace + "\t" + row
	}
	return row
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
