using System.Diagnostics;
using System.Text;
using AgentSessions.Testing;

namespace AgentSessions.Functions.Tests.Infrastructure;

/// <summary>
/// <c>AgentSessions.TestWorker</c> in a process of its own, which a test can kill (SIGKILL: nothing runs on the way
/// out, as when a host is deployed over, scaled in or killed for memory).
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(60);

    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly TaskCompletionSource ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WorkerProcess(Process process, string name)
    {
        this.process = process;
        Name = name;
    }

    public string Name { get; }

    /// <summary>When the worker said it takes work.</summary>
    public DateTimeOffset ReadyAt { get; private set; }

    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    /// <summary>A whole Functions host: provider, sidecar and worker on the task hub.</summary>
    public static Task<WorkerProcess> StartHostAsync(string name, string storage, string hub, string messagesTable, int agentTimeoutSeconds,
        int? controlQueueVisibilitySeconds = null) =>
        StartAsync(name, [
            "--mode", "host", "--storage", storage, "--hub", hub, "--worker-id", name, "--messages", messagesTable,
            "--agent-timeout", agentTimeoutSeconds.ToString(), .. controlQueueVisibilitySeconds is { } seconds ? new[] { "--control-visibility", seconds.ToString() } : [],
        ]);

    /// <summary>Only the language worker, connected to a host (an engine with an external worker) at <paramref name="sidecar"/>.</summary>
    public static Task<WorkerProcess> StartWorkerAsync(string name, string storage, Uri sidecar, string messagesTable, int agentTimeoutSeconds) =>
        StartAsync(name, [
            "--mode", "worker", "--storage", storage, "--sidecar", sidecar.ToString(), "--messages", messagesTable,
            "--agent-timeout", agentTimeoutSeconds.ToString(),
        ]);

    private static async Task<WorkerProcess> StartAsync(string name, string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(Executable());
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var worker = new WorkerProcess(process, name);
        process.OutputDataReceived += (_, e) => worker.Record(e.Data, fromStdout: true);
        process.ErrorDataReceived += (_, e) => worker.Record(e.Data, fromStdout: false);
        process.Exited += (_, _) => worker.ready.TrySetException(new InvalidOperationException($"worker {name} exited early:\n{worker.Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await worker.ready.Task.WaitAsync(StartupTimeout);
        return worker;
    }

    /// <summary>The worker's build output beside this test assembly's (same configuration and framework).</summary>
    private static string Executable()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory); // …/tests/AgentSessions.Functions.Tests/bin/<config>/<tfm>/
        var path = Path.Combine(RepositoryFiles.Root, "tests", "AgentSessions.TestWorker", "bin", here.Parent!.Name, here.Name, "AgentSessions.TestWorker.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first: the test worker is missing.", path);
    }

    private void Record(string? line, bool fromStdout)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }

        if (fromStdout && line == "ready")
        {
            ReadyAt = DateTimeOffset.UtcNow;
            ready.TrySetResult();
        }
    }

    /// <summary>SIGKILL, and wait until it is gone.</summary>
    public async Task KillAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        await process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!process.HasExited)
            {
                // A clean stop: it stops the provider, so nothing it took stays invisible on the queues.
                process.StandardInput.Close();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        finally
        {
            process.Dispose();
        }
    }
}
