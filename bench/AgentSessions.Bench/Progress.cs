using System.Diagnostics;

namespace AgentSessions.Bench;

/// <summary>Prints a status line to stderr about once a second while a phase runs; stdout stays for the results.</summary>
public sealed class Progress : IAsyncDisposable
{
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;
    private readonly Stopwatch clock = Stopwatch.StartNew();

    private Progress(string phase, Func<string> status, TimeSpan interval)
    {
        loop = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    await Task.Delay(interval, stop.Token);
                    Log($"  [{phase} {clock.Elapsed.TotalSeconds,5:0.0}s] {status()}");
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    public static Progress Start(string phase, Func<string> status) => new(phase, status, TimeSpan.FromSeconds(1));

    public static void Log(string line) => Console.Error.WriteLine(line);

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await loop;
        stop.Dispose();
    }
}
