using OpenExec.Gateway.Hosting;

var app = GatewayApp.Build(args, out var problems);
if (app is null)
{
    Console.Error.WriteLine("OpenExec Gateway refused to start: invalid configuration");
    foreach (var problem in problems)
    {
        Console.Error.WriteLine($"  - {problem}");
    }
    return 2;
}

await app.RecoverAsync();
await app.RunAsync();
return 0;
