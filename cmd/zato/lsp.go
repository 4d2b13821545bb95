package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/zato-go/zato/lsp"
)

func (a *app) lspCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lsp",
		Short: "Run the language server over stdio (deploy on save, confirmations, diagnostics)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// stdout is the protocol: the log goes to stderr, which editors show as the server's output.
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			return lsp.Run(cmd.Context(), os.Stdin, os.Stdout, log)
		},
	}
}
