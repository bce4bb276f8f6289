using OpenExec.Gateway.Hosting;

return await GatewayApp.RunAsync(args, Console.Error);
