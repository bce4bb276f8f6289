using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

if (args is ["index-growth", ..])
{
    OpenExec.Bench.Micro.IndexGrowth.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 6_000_000);
    return;
}

// A short job by default (a few minutes for the whole set); pass --job default (or any
// BenchmarkDotNet option) for the full statistical treatment.
var config = DefaultConfig.Instance;
if (!args.Contains("--job"))
{
    config = config.AddJob(Job.ShortRun.WithWarmupCount(3).WithIterationCount(5).WithLaunchCount(1));
}
BenchmarkSwitcher.FromAssembly(typeof(OpenExec.Bench.Micro.IndexGrowth).Assembly).Run(args, config);
