using System.Net;
using System.Net.Sockets;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;
using Microsoft.DurableTask.Testing.Sidecar;
using Microsoft.DurableTask.Testing.Sidecar.Grpc;
using Microsoft.DurableTask.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Bench.InProcess;

/// <summary>
/// The real session orchestration and activities, plus the bare reference orchestration, on the pieces of
/// Microsoft.DurableTask.InProcessTestHost: its in-memory orchestration service and gRPC sidecar on loopback,
/// and a Durable Task worker and client over that channel, put together as <c>DurableTaskTestHost.StartAsync</c>
/// does, and with the activities registered as the test suite's SessionTestHost registers them. The one
/// difference: the sidecar's work-item slots are set (see <see cref="SlotsOrchestrationService{TInner}"/>).
/// </summary>
public sealed class Engine : IAsyncDisposable
{
    public const string Owner = "bench";
    public const string AgentName = "agi-0";

    private static volatile bool stopping;

    private readonly DurableTaskTestHost host;

    private Engine(DurableTaskTestHost host, InMemoryMessageStore store, SessionsOptions options, EngineLimits limits)
    {
        this.host = host;
        Store = store;
        Options = options;
        Limits = limits;
        // No webhook_url is ever sent, so webhooks stay unconfigured.
        Gateway = new SessionGateway(host.Client, store, new NoSessionClaims(), options, TimeProvider.System, new AgentSessions.Functions.Webhooks.WebhookOptions());
    }

    public DurableTaskClient Client => host.Client;

    public InMemoryMessageStore Store { get; }

    public SessionsOptions Options { get; }

    public EngineLimits Limits { get; }

    public SessionGateway Gateway { get; }

    public static async Task<Engine> StartAsync(SessionsOptions options, EngineLimits limits, bool retainMessages)
    {
        var store = new InMemoryMessageStore(retainMessages);
        // The agent's step delay comes from the [delay=MS] marker of each task, so this default is never used.
        var agents = new AgentCatalog([new AgentDefinition(AgentName, AgentCatalog.ScriptedType, TimeSpan.FromSeconds(1))]);
        var resolver = new AgentResolver(agents, TimeProvider.System, new NoHttpClients());
        void Register(DurableTaskRegistry registry)
        {
            registry.AddOrchestratorFunc<SessionInput, SessionView>(SessionOrchestration.Name,
                (context, input) => SessionOrchestration.RunAsync(context, input));
            registry.AddActivityFunc<AppendMessagesInput>(AppendMessagesActivity.Name,
                (context, input) => new AppendMessagesActivity(store).RunAsync(input, CancellationToken.None));
            registry.AddActivityFunc<StepRequest, AgentStepResult>(RunAgentStepActivity.Name,
                (context, request) => new RunAgentStepActivity(resolver).RunAsync(request, CancellationToken.None));
            registry.AddOrchestratorFunc<BareOrchestration.Input, string>(BareOrchestration.Name,
                (context, input) => BareOrchestration.RunAsync(context, input));
        }

        var service = new SlotsOrchestrationService<InMemoryOrchestrationService>(
            new InMemoryOrchestrationService(null), limits.OrchestrationSlots, limits.ActivitySlots);
        var address = $"http://127.0.0.1:{FreePort()}";
        var sidecar = Host.CreateDefaultBuilder()
            .ConfigureLogging(Quiet)
            .ConfigureWebHostDefaults(web =>
            {
                web.UseUrls(address);
                web.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(listen => listen.Protocols = HttpProtocols.Http2));
                web.ConfigureServices(services =>
                {
                    services.AddGrpc();
                    services.AddSingleton<DurableTask.Core.IOrchestrationService>(service);
                    services.AddSingleton<DurableTask.Core.IOrchestrationServiceClient>(service);
                    services.AddSingleton<TaskHubGrpcServer>();
                });
                web.Configure(app =>
                {
                    app.UseRouting();
                    app.UseEndpoints(endpoints => endpoints.MapGrpcService<TaskHubGrpcServer>());
                });
            })
            .Build();
        await sidecar.StartAsync();

        var channel = GrpcChannel.ForAddress(address);
        var worker = Host.CreateDefaultBuilder()
            .ConfigureLogging(Quiet)
            .ConfigureServices(services =>
            {
                services.ConfigureAll<DurableTaskWorkerOptions>(o =>
                {
                    o.Concurrency.MaximumConcurrentOrchestrationWorkItems = limits.OrchestrationSlots;
                    o.Concurrency.MaximumConcurrentActivityWorkItems = limits.ActivitySlots;
                });
                services.AddDurableTaskWorker(builder =>
                {
                    builder.UseGrpc(channel);
                    builder.AddTasks(Register);
                });
                services.AddDurableTaskClient(builder =>
                {
                    builder.UseGrpc(channel);
                    builder.RegisterDirectly();
                });
            })
            .Build();
        await worker.StartAsync();

        var host = new DurableTaskTestHost(sidecar, worker, channel, worker.Services.GetRequiredService<DurableTaskClient>());
        return new Engine(host, store, options, limits);
    }

    /// <summary>Steps still in flight at shutdown fail to report back; that is expected, so nothing is logged from here on.</summary>
    public ValueTask DisposeAsync()
    {
        stopping = true;
        return host.DisposeAsync();
    }

    /// <summary>Warnings and errors only, and on stderr: stdout carries the results.</summary>
    private static void Quiet(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter((_, level) => !stopping && level >= LogLevel.Warning);
        logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>Creates with an Idempotency-Key are not part of the benchmark, so claims are never taken.</summary>
    private sealed class NoSessionClaims : ISessionClaims
    {
        public Task<bool> TryClaimAsync(string instanceId, CancellationToken cancellationToken) => Task.FromResult(true);

        public Task ReleaseAsync(string instanceId, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Only scripted agents run here; they make no HTTP calls.</summary>
    private sealed class NoHttpClients : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => throw new NotSupportedException("the benchmark runs scripted agents only");
    }
}

/// <summary>
/// Work items the engine runs at once, in the sidecar's dispatchers and in the worker alike. The test host's
/// own default is one per core; the Functions app's host.json allows 16 of each per instance.
/// </summary>
public sealed record EngineLimits(int OrchestrationSlots, int ActivitySlots)
{
    public const int DefaultOrchestrationSlots = 256;
    public const int DefaultActivitySlots = 1024;

    public static EngineLimits Read(Cli cli) => new(
        cli.Int("orchestration-slots", DefaultOrchestrationSlots, 1, 100_000),
        cli.Int("activity-slots", DefaultActivitySlots, 1, 100_000));

    public override string ToString() => $"{OrchestrationSlots} orchestration / {ActivitySlots} activity work-item slots";
}
