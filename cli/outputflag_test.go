package cli

import (
	"errors"
	"testing"

	"github.com/spf13/cobra"

	"cairn/cli/format"
)

func TestOutputFlagValues(t *testing.T) {
	t.Setenv(format.EnvFormat, "")
	for _, tc := range []struct {
		value string
		want  format.Kind
	}{
		{"", format.Text},
		{"text", format.Text},
		{"json", format.JSON},
		{"json-pretty", format.JSONPretty},
	} {
		t.Run("value="+tc.value, func(t *testing.T) {
			cmd := &cobra.Command{Use: "x"}
			var of outputFlag
			of.add(cmd)
			if tc.value != "" {
				if err := cmd.Flags().Set("output-format", tc.value); err != nil {
					t.Fatal(err)
				}
			}
			opts, err := of.options()
			if err != nil {
				t.Fatalf("options: %v", err)
			}
			if opts.Format != tc.want {
				t.Errorf("format = %v, want %v", opts.Format, tc.want)
			}
		})
	}
}

func TestOutputFlagRefusesOthers(t *testing.T) {
	for _, v := range []string{"yaml", "JSON", "Text", "json_pretty", " "} {
		of := outputFlag{value: v}
		_, err := of.options()
		var ue usageError
		if !errors.As(err, &ue) {
			t.Fatalf("%q: err = %v, want a usage error", v, err)
		}
		want := "parameter verification failed - 'output-format': value '" + v + "' is not defined in the enumeration."
		if err.Error() != want {
			t.Errorf("%q: err = %q, want %q", v, err, want)
		}
	}
}

// TestOutputFlagEverywhere: every --output-format of the tree is the one
// outputFlag registers (paperkey's text/html choice aside).
func TestOutputFlagEverywhere(t *testing.T) {
	var ref outputFlag
	refCmd := &cobra.Command{Use: "ref"}
	ref.add(refCmd)
	want := refCmd.Flags().Lookup("output-format")
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if f := c.Flags().Lookup("output-format"); f != nil && c.Name() != "paperkey" {
			n++
			if f.Usage != want.Usage || f.DefValue != want.DefValue || f.Value.Type() != want.Value.Type() {
				t.Errorf("%s: --output-format %q default %q, want outputFlag's", c.CommandPath(), f.Usage, f.DefValue)
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot())
	if n < 10 {
		t.Errorf("found %d commands with --output-format, want at least 10", n)
	}
}
