using AgentSessions.Functions.Durable;
using Grpc.Net.Client;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSessions.Testing;

/// <summary>
/// The app's orchestrations and activities on a Durable Task worker connected to a sidecar over gRPC: what the
/// Functions host's language worker is to the host. It can live in the engine's process or in a process of its own
/// (<c>AgentSessions.TestWorker --mode worker</c>), so a test can kill it alone.
/// </summary>
public sealed class DurableWorker : IAsyncDisposable
{
    private readonly IHost host;
    private readonly GrpcChannel? ownedChannel;

    private DurableWorker(IHost host, GrpcChannel? ownedChannel)
    {
        this.host = host;
        this.ownedChannel = ownedChannel;
    }

    public static Task<DurableWorker> StartAsync(Uri sidecar, Action<DurableTaskRegistry> register, int orchestrationSlots, int activitySlots,
        ILoggerFactory? logging = null) =>
        StartAsync(GrpcChannel.ForAddress(sidecar), ownsChannel: true, register, orchestrationSlots, activitySlots, logging);

    internal static async Task<DurableWorker> StartAsync(GrpcChannel channel, bool ownsChannel, Action<DurableTaskRegistry> register,
        int orchestrationSlots, int activitySlots, ILoggerFactory? logging)
    {
        var host = new HostBuilder()
            .ConfigureServices(services =>
            {
                services.AddSingleton(logging ?? NullLoggerFactory.Instance);
                services.AddLogging();
                services.ConfigureAll<DurableTaskWorkerOptions>(o =>
                {
                    o.DataConverter = DurableJson.Converter;
                    o.Concurrency.MaximumConcurrentOrchestrationWorkItems = orchestrationSlots;
                    o.Concurrency.MaximumConcurrentActivityWorkItems = activitySlots;
                });
                services.AddDurableTaskWorker(builder =>
                {
                    builder.UseGrpc(channel);
                    builder.AddTasks(register);
                });
            })
            .Build();
        await host.StartAsync();
        return new DurableWorker(host, ownsChannel ? channel : null);
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await host.StopAsync(timeout.Token);
        host.Dispose();
        ownedChannel?.Dispose();
    }
}
