package command

import (
	"io"
	"strings"

	"github.com/spf13/cobra"
)

func newGetResourcesCommand(o *options) *cobra.Command {
	var (
		failing, suspended, ready bool
		name, output              string
	)
	cmd := &cobra.Command{
		Use:   "resources [KIND]",
		Short: "List Flux objects, failing first, with their reason, message, revision and age",
		Example: `  flux-operator get resources -A --failing
  flux-operator get resources kustomization -n apps --name 'app-*' -o wide`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: o.completeKinds,
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := btoi(failing) + btoi(suspended) + btoi(ready); n > 1 {
				return usagef("--failing, --suspended and --ready exclude each other")
			}
			switch output {
			case "", "wide", "yaml", "json":
			default:
				return usagef("-o %q: use wide, yaml or json", output)
			}
			ctx, cancel := o.context()
			defer cancel()
			kinds, err := o.kinds(ctx)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				k, ok := kindNamed(kinds, args[0])
				if !ok {
					return usagef("%q is not a Flux kind this cluster serves; the report lists: %s", args[0], kindNames(kinds))
				}
				kinds = []fluxKind{k}
			}
			ns := ""
			if !o.allNamespaces {
				ns = o.namespace()
			}
			all, err := o.listResources(ctx, kinds, ns)
			if err != nil {
				return err
			}
			match := nameMatcher(name)
			shown := make([]resource, 0, len(all))
			for _, res := range all {
				switch {
				case !match(res.Name):
				case failing && res.State != stateFailing, suspended && res.State != stateSuspended, ready && res.State != stateReady:
				default:
					shown = append(shown, res)
				}
			}
			return writeResources(cmd.OutOrStdout(), cmd.ErrOrStderr(), shown, output, o.allNamespaces || ns == "", o.painter())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "List the objects of every namespace.")
	f.BoolVar(&failing, "failing", false, "Only the failing objects (Ready=False, not waiting for a dependency, not suspended).")
	f.BoolVar(&suspended, "suspended", false, "Only the suspended objects.")
	f.BoolVar(&ready, "ready", false, "Only the ready objects.")
	f.StringVar(&name, "name", "", "Only the objects whose name matches: a pattern with * and ?, or text the name contains.")
	f.StringVarP(&output, "output", "o", "", "Output format: wide, yaml or json.")
	mustComplete(cmd, "output", cobra.FixedCompletions([]cobra.Completion{"wide", "yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeResources writes rs as a table, the STATE column coloured by p, or
// as YAML or JSON, never coloured.
func writeResources(w, errw io.Writer, rs []resource, output string, withNamespace bool, p painter) error {
	switch output {
	case "yaml", "json":
		return printObject(w, rs, output)
	}
	if len(rs) == 0 {
		printLine(errw, "No Flux objects found.")
		return nil
	}
	tw := table(w)
	head := []string{"KIND", "NAME", p.paint(plain, "STATE"), "REASON", "AGE", "MESSAGE"}
	if withNamespace {
		head = append([]string{"NAMESPACE"}, head...)
	}
	if output == "wide" {
		head = append(head, "REVISION")
	}
	printLine(tw, strings.Join(head, "\t"))
	for _, r := range rs {
		msg := r.Message
		if output != "wide" {
			msg = firstLine(msg, 80)
		} else {
			msg = firstLine(msg, 200)
		}
		row := []string{r.Kind, r.Name, p.paint(stateColour(r.State), string(r.State)), orDash(r.Reason), age(r.Since), orDash(msg)}
		if withNamespace {
			row = append([]string{r.Namespace}, row...)
		}
		if output == "wide" {
			row = append(row, orDash(r.Revision))
		}
		printLine(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// firstLine is the message's first line, cut to n characters.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
