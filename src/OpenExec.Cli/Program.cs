return await OpenExec.Cli.CliApp.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
