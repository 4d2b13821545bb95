package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/zato-go/zato/lsp"
)

func (a *app) lspCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lsp",
		Short: "Run the language server over stdio (deploy on save, confirmations, diagnostics)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if v, _ := cmd.Flags().GetBool("version"); v {
				fmt.Println(lsp.Version) // what editors compare with their extension's version
				return nil
			}
			// stdout is the protocol. The editor gets the log through window/logMessage, so stderr (which editors
			// also show) carries only warnings and errors, or each line would appear twice.
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			return lsp.Run(cmd.Context(), os.Stdin, os.Stdout, log)
		},
	}
	// Many LSP clients pass --stdio; it is the only transport, so the flag is accepted and changes nothing.
	c.Flags().Bool("stdio", true, "talk LSP over stdin/stdout (the only transport)")
	c.Flags().Bool("version", false, "print the language server's version and exit")
	return c
}
