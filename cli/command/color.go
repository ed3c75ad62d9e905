package command

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// colorMode is --color: auto colours only a terminal.
type colorMode string

const (
	colorAuto   colorMode = "auto"
	colorAlways colorMode = "always"
	colorNever  colorMode = "never"
)

// colorEnv sets --color's default.
const colorEnv = "FLUX_OPERATOR_COLOR"

func (m *colorMode) String() string { return string(*m) }

func (m *colorMode) Set(s string) error {
	switch colorMode(s) {
	case colorAuto, colorAlways, colorNever:
		*m = colorMode(s)
		return nil
	}
	return fmt.Errorf("use auto, always or never")
}

func (m *colorMode) Type() string { return "auto|always|never" }

// addColorFlag adds --color, its default read from FLUX_OPERATOR_COLOR; a
// wrong value there is kept for checkColor to refuse.
func (o *options) addColorFlag(root *cobra.Command) {
	o.color = colorAuto
	if v := os.Getenv(colorEnv); v != "" {
		if err := o.color.Set(v); err != nil {
			o.colorEnvErr = usagef("%s=%q: %v", colorEnv, v, err)
		}
	}
	root.PersistentFlags().Var(&o.color, "color", "When to colour the state in tables: auto (only when the output is a "+
		"terminal and NO_COLOR is unset), always or never. Env: "+colorEnv+".")
	mustComplete(root, "color", cobra.FixedCompletions([]cobra.Completion{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp))
}

// checkColor refuses a wrong FLUX_OPERATOR_COLOR, unless --color overrides it.
func (o *options) checkColor(cmd *cobra.Command) error {
	if o.colorEnvErr != nil && !cmd.Flags().Changed("color") {
		return o.colorEnvErr
	}
	return nil
}

// painter is how tables colour their cells for this run.
func (o *options) painter() painter {
	return painter{on: colorOn(o.color, os.Getenv, isTerminal(o.streams.Out))}
}

// colorOn says whether to colour: always and never say it, auto colours a
// terminal unless NO_COLOR (https://no-color.org) is set or TERM is dumb.
func colorOn(m colorMode, getenv func(string) string, terminal bool) bool {
	switch m {
	case colorAlways:
		return true
	case colorNever:
		return false
	}
	return terminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// colour is an SGR escape sequence. Every one is 5 bytes long: text/tabwriter
// counts escape bytes in a cell's width, so a column stays aligned only when
// each of its cells, the header too, is painted (plain for no colour) with a
// sequence of the same length.
type colour string

const (
	plain  colour = "\x1b[39m" // the terminal's own foreground
	red    colour = "\x1b[31m"
	green  colour = "\x1b[32m"
	yellow colour = "\x1b[33m"
	cyan   colour = "\x1b[36m"
	reset         = "\x1b[0m"
)

// painter colours text, or leaves it as it is when off.
type painter struct{ on bool }

func (p painter) paint(c colour, s string) string {
	if !p.on {
		return s
	}
	return string(c) + s + reset
}

func stateColour(s state) colour {
	switch s {
	case stateFailing:
		return red
	case stateProgressing, stateUnknown:
		return yellow
	case stateSuspended:
		return cyan
	case stateReady:
		return green
	}
	return plain
}

// conditionColour colours a condition's status, or a component's readiness.
func conditionColour(status string) colour {
	switch status {
	case "True", "true", "Ready":
		return green
	case "False", "false", "Not ready":
		return red
	}
	return yellow
}

func eventColour(typ string) colour {
	if typ == "Warning" {
		return yellow
	}
	return plain
}

// countColour is c when there are some, plain for none.
func countColour(n int, c colour) colour {
	if n > 0 {
		return c
	}
	return plain
}
