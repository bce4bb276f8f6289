using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

// A short job by default (a few minutes for the whole set); pass --job default (or any
// BenchmarkDotNet option) for the full statistical treatment.
var config = DefaultConfig.Instance;
if (!args.Contains("--job"))
{
    config = config.AddJob(Job.ShortRun.WithWarmupCount(3).WithIterationCount(5).WithLaunchCount(1));
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
