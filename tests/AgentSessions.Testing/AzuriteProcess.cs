using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Azure.Data.Tables;

namespace AgentSessions.Testing;

/// <summary>
/// A real Azurite (blob, queue, table) from the repository's <c>node_modules</c> (<c>npm ci</c> at the repository
/// root installs it), on three free loopback ports and a temporary data folder, killed with its process tree on dispose.
/// </summary>
public sealed class AzuriteProcess : IAsyncDisposable
{
    public const string AccountName = "devstoreaccount1";

    /// <summary>The well-known key of Azurite's development account (public, not a secret).</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(60);
    private const int StartAttempts = 3;

    private readonly StringBuilder _output = new();
    private Process? _process;
    private string? _location;

    public int BlobPort { get; private set; }

    public int QueuePort { get; private set; }

    public int TablePort { get; private set; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/{AccountName};" +
        $"QueueEndpoint=http://127.0.0.1:{QueuePort}/{AccountName};" +
        $"TableEndpoint=http://127.0.0.1:{TablePort}/{AccountName};";

    /// <summary>Starts Azurite and waits until its three services answer.</summary>
    public static async Task<AzuriteProcess> StartAsync()
    {
        var azurite = new AzuriteProcess();
        await azurite.InitializeAsync();
        return azurite;
    }

    private async Task InitializeAsync()
    {
        var executable = FindAzurite();
        // A port picked free can be taken by someone else before Azurite binds it: then start again on new ports.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await StartAsync(executable);
                return;
            }
            catch (AzuriteExitedException) when (attempt < StartAttempts)
            {
                await StopAsync();
            }
            catch
            {
                await StopAsync();
                throw;
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private static string FindAzurite()
    {
        var name = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "azurite.cmd" : "azurite";
        var path = Path.Combine(RepositoryFiles.Root, "node_modules", ".bin", name);
        if (!File.Exists(path))
        {
            throw new InvalidOperationException(
                $"Azurite is not installed: {path} is missing. Run `npm ci` at the repository root ({RepositoryFiles.Root}) first.");
        }

        return path;
    }

    private async Task StartAsync(string executable)
    {
        (BlobPort, QueuePort, TablePort) = PickFreePorts();
        _location = Path.Combine(Path.GetTempPath(), "azurite-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_location);

        var startInfo = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = _location,
        };
        foreach (var argument in new[]
        {
            "--location", _location,
            "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry",
            "--blobHost", "127.0.0.1", "--blobPort", BlobPort.ToString(),
            "--queueHost", "127.0.0.1", "--queuePort", QueuePort.ToString(),
            "--tableHost", "127.0.0.1", "--tablePort", TablePort.ToString(),
        })
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Record(e.Data);
        process.ErrorDataReceived += (_, e) => Record(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {executable}.");
        }

        _process = process;
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await WaitUntilReadyAsync(process);
    }

    private async Task WaitUntilReadyAsync(Process process)
    {
        var tables = new TableServiceClient(ConnectionString, new TableClientOptions
        {
            Retry = { MaxRetries = 0, NetworkTimeout = TimeSpan.FromSeconds(5) },
        });
        using var deadline = new CancellationTokenSource(StartupTimeout);
        Exception? last = null;
        while (!deadline.IsCancellationRequested)
        {
            if (process.HasExited)
            {
                throw new AzuriteExitedException(
                    $"Azurite exited with code {process.ExitCode} before it was ready. Output:{Environment.NewLine}{Output()}");
            }

            // Until Azurite says it listens on its ports, nothing is sent to them: a port picked free may have been
            // taken since by another test's server (it then gets Azurite's probes as stray requests), and Azurite
            // exits on the bind failure, which starts it again on new ports.
            if (!ListensOnItsPorts())
            {
                await DelayAsync(deadline.Token);
                continue;
            }

            try
            {
                // Blob and queue have said they listen; the table service answering a query is the last sign.
                await foreach (var _ in tables.QueryAsync(maxPerPage: 1, cancellationToken: deadline.Token))
                {
                    break;
                }

                return;
            }
            catch (Exception ex) when (!deadline.IsCancellationRequested)
            {
                last = ex;
            }

            await DelayAsync(deadline.Token);
        }

        throw new TimeoutException(
            $"Azurite did not answer on its table endpoint (port {TablePort}) within {StartupTimeout.TotalSeconds:0} s. " +
            $"Last error: {last?.Message}{Environment.NewLine}Output:{Environment.NewLine}{Output()}");
    }

    private bool ListensOnItsPorts()
    {
        var output = Output();
        return new[] { ("Blob", BlobPort), ("Queue", QueuePort), ("Table", TablePort) }.All(service =>
            output.Contains($"Azurite {service.Item1} service is successfully listening at http://127.0.0.1:{service.Item2}", StringComparison.Ordinal));
    }

    private static async Task DelayAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static (int Blob, int Queue, int Table) PickFreePorts()
    {
        // All three listeners are open at once, so the three ports differ.
        var listeners = Enumerable.Range(0, 3).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        try
        {
            foreach (var listener in listeners)
            {
                listener.Start();
            }

            var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
            return (ports[0], ports[1], ports[2]);
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }

    private async Task StopAsync()
    {
        var process = _process;
        _process = null;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        if (process is not null)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
            {
                // Already gone, or it would not die in time: nothing more a test run can do about it.
            }
            finally
            {
                process.Dispose();
            }
        }

        var location = _location;
        _location = null;
        if (location is not null)
        {
            try
            {
                Directory.Delete(location, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    // If the test host ends without disposing the fixture, do not leave Azurite running.
    private void OnProcessExit(object? sender, EventArgs e)
    {
        try
        {
            _process?.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    private sealed class AzuriteExitedException(string message) : Exception(message);
}
