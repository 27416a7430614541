using AgentSessions.Functions.Durable;
using DurableTask.AzureStorage;
using DurableTask.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing.Sidecar;
using Microsoft.DurableTask.Testing.Sidecar.Grpc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSessions.Testing;

/// <summary>Which Durable backend a test runs on.</summary>
public enum DurableEngineKind
{
    /// <summary>The test host's in-memory orchestration service: fast, no limits, cannot crash or be shared.</summary>
    InMemory,

    /// <summary>The Azure Storage provider the Functions host runs in production, on Azurite.</summary>
    AzureStorage,
}

/// <summary>How to start a <see cref="DurableEngine"/>.</summary>
/// <param name="StorageConnectionString">Azurite's connection string; required for <see cref="DurableEngineKind.AzureStorage"/>.</param>
/// <param name="TaskHub">The task hub; several engines on one hub share its instances (scale-out). Default: a new one.</param>
/// <param name="WorkerId">Distinct per process on one task hub, as the Functions host's machine name would be.</param>
/// <param name="WorkItemQueueVisibilityTimeout">Overrides host.json's (default 5 min) for crash tests.</param>
/// <param name="OrchestrationSlots">Work items run at once; default host.json's maxConcurrentOrchestratorFunctions.</param>
/// <param name="ActivitySlots">Default host.json's maxConcurrentActivityFunctions.</param>
/// <param name="StopServiceInBackground">Dispose returns before the orchestration service has stopped (a test whose task
/// hub is thrown away); <see cref="DurableEngine.WaitForBackgroundStopsAsync"/> waits for them.</param>
/// <param name="ControlQueueVisibilityTimeout">Overrides host.json's, for crash tests that should not wait minutes for
/// the messages a killed worker had taken.</param>
/// <param name="ExternalWorker">Dispatch work to a <see cref="DurableWorker"/> that connects to <see cref="DurableEngine.Address"/>
/// from elsewhere (another process), as the Functions host does to its language worker.</param>
public sealed record DurableEngineOptions(
    DurableEngineKind Kind,
    string? StorageConnectionString = null,
    string? TaskHub = null,
    string? WorkerId = null,
    TimeSpan? WorkItemQueueVisibilityTimeout = null,
    int? OrchestrationSlots = null,
    int? ActivitySlots = null,
    ILoggerFactory? Logging = null,
    bool StopServiceInBackground = false,
    TimeSpan? ControlQueueVisibilityTimeout = null,
    bool ExternalWorker = false);

/// <summary>
/// A Durable engine as the Functions host provides it to the app: an orchestration service (in memory, or the Azure
/// Storage provider on Azurite) behind the gRPC sidecar of <c>Microsoft.DurableTask.InProcessTestHost</c> with the
/// host's rules (<see cref="HostRulesGrpcServer"/>), and a Durable Task worker and client over that channel.
/// Started without tasks it is a client only: it reads and raises, and runs nothing (as an HTTP-only process would);
/// with <see cref="DurableEngineOptions.ExternalWorker"/> it dispatches to a worker in another process.
/// </summary>
public sealed class DurableEngine : IAsyncDisposable
{
    private readonly IHost sidecar;
    private readonly DurableWorker? worker;
    private readonly IHost clientHost;
    private readonly GrpcChannel channel;
    private readonly IOrchestrationService service;
    private readonly bool serviceStarted;
    private static readonly List<Task> BackgroundStops = [];
    private readonly bool stopServiceInBackground;
    private int disposed;
    private IHistoryProbe? historyProbe;

    private DurableEngine(IHost sidecar, DurableWorker? worker, IHost clientHost, GrpcChannel channel, IOrchestrationService service,
        bool serviceStarted, string taskHub, Uri address, bool stopServiceInBackground)
    {
        this.stopServiceInBackground = stopServiceInBackground;
        this.sidecar = sidecar;
        this.worker = worker;
        this.clientHost = clientHost;
        this.channel = channel;
        this.service = service;
        this.serviceStarted = serviceStarted;
        TaskHub = taskHub;
        Address = address;
        Client = clientHost.Services.GetRequiredService<DurableTaskClient>();
    }

    public DurableTaskClient Client { get; }

    public string TaskHub { get; }

    /// <summary>The sidecar's gRPC address.</summary>
    public Uri Address { get; }

    /// <summary>The orchestration service itself (for tests that inspect it, e.g. the Azure Storage provider's settings).</summary>
    public IOrchestrationService Service => service;

    /// <summary>The most history events one generation of the instance carried, and its generations, as far as this engine ran it.</summary>
    public HistoryRecord? HistoryOf(string instanceId) => historyProbe?.HistoryOf(instanceId);

    /// <summary>
    /// Stops the sidecar's gRPC server, as a host whose backend is down would stop answering: clients then fail with
    /// <c>Unavailable</c>. The engine is of no further use except to be disposed.
    /// </summary>
    public async Task StopSidecarAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await sidecar.StopAsync(timeout.Token);
    }

    /// <summary>Waits for the orchestration services that engines disposed with <see cref="DurableEngineOptions.StopServiceInBackground"/> left stopping.</summary>
    public static async Task WaitForBackgroundStopsAsync()
    {
        Task[] stops;
        lock (BackgroundStops)
        {
            stops = [.. BackgroundStops];
            BackgroundStops.Clear();
        }

        // A stop that fails or hangs (its storage already gone) must not fail the run that is ending.
        await Task.WhenAny(Task.WhenAll(stops).ContinueWith(_ => { }, TaskScheduler.Default), Task.Delay(TimeSpan.FromSeconds(30)));
    }

    /// <summary>A task hub name nobody else uses (letters and digits, as Azure Storage requires).</summary>
    public static string NewTaskHubName() => "t" + Guid.NewGuid().ToString("N")[..15];

    public static async Task<DurableEngine> StartAsync(DurableEngineOptions options, Action<DurableTaskRegistry>? register)
    {
        ArgumentNullException.ThrowIfNull(options);
        var hostSettings = TaskHubSettings.FromHostJson();
        var logging = options.Logging ?? NullLoggerFactory.Instance;
        var orchestrationSlots = options.OrchestrationSlots ?? hostSettings.MaxConcurrentOrchestratorFunctions;
        var activitySlots = options.ActivitySlots ?? hostSettings.MaxConcurrentActivityFunctions;
        var taskHub = options.TaskHub ?? NewTaskHubName();

        IOrchestrationService inner;
        switch (options.Kind)
        {
            case DurableEngineKind.AzureStorage:
                var storage = new AzureStorageOrchestrationService(AzureStorageSettings(options, hostSettings, taskHub, logging,
                    orchestrationSlots, activitySlots));
                await storage.CreateIfNotExistsAsync();
                inner = storage;
                break;
            default:
                inner = new InMemoryOrchestrationService(logging);
                break;
        }

        // A client-only engine never starts the service: it takes no partitions and runs nothing.
        if (options.ExternalWorker && register is not null)
        {
            throw new ArgumentException("An engine for an external worker runs no tasks of its own.", nameof(register));
        }

        var runsWork = register is not null || options.ExternalWorker;
        if (runsWork)
        {
            await inner.StartAsync();
        }

        var wrapped = WrapService(inner, orchestrationSlots, activitySlots);
        IOrchestrationService service = wrapped.Service;
        IOrchestrationServiceClient serviceClient = wrapped.Client;
        var sidecar = new HostBuilder()
            .ConfigureServices(services => services.AddSingleton(logging))
            .ConfigureWebHost(web =>
            {
                web.UseKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
                web.ConfigureServices(services =>
                {
                    services.AddRouting();
                    services.AddGrpc();
                    services.AddSingleton(service);
                    services.AddSingleton(serviceClient);
                    services.Configure<TaskHubGrpcServerOptions>(o =>
                        o.Mode = runsWork ? TaskHubGrpcServerMode.ApiServerAndDispatcher : TaskHubGrpcServerMode.ApiServerOnly);
                    services.AddSingleton<HostRulesGrpcServer>();
                });
                web.Configure(app =>
                {
                    app.UseRouting();
                    app.UseEndpoints(endpoints => endpoints.MapGrpcService<HostRulesGrpcServer>());
                });
            })
            .Build();
        await sidecar.StartAsync();
        var address = new Uri(sidecar.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        var channel = GrpcChannel.ForAddress(address);

        var worker = register is null ? null
            : await DurableWorker.StartAsync(channel, ownsChannel: false, register, orchestrationSlots, activitySlots, logging);

        var clientHost = new HostBuilder()
            .ConfigureServices(services =>
            {
                services.AddSingleton(logging);
                services.AddLogging();
                services.ConfigureAll<DurableTaskClientOptions>(o => o.DataConverter = DurableJson.Converter);
                services.AddDurableTaskClient(builder =>
                {
                    builder.UseGrpc(channel);
                    builder.RegisterDirectly();
                });
            })
            .Build();
        await clientHost.StartAsync();
        return new DurableEngine(sidecar, worker, clientHost, channel, inner, runsWork, taskHub, address, options.StopServiceInBackground)
        {
            historyProbe = (IHistoryProbe)service,
        };
    }

    private static (IOrchestrationService Service, IOrchestrationServiceClient Client) WrapService(IOrchestrationService inner, int orchestrationSlots,
        int activitySlots) => inner switch
    {
        AzureStorageOrchestrationService storage => Wrap(storage, orchestrationSlots, activitySlots),
        InMemoryOrchestrationService memory => Wrap(memory, orchestrationSlots, activitySlots),
        _ => throw new NotSupportedException(inner.GetType().Name),
    };

    private static (IOrchestrationService, IOrchestrationServiceClient) Wrap<T>(T inner, int orchestrationSlots, int activitySlots)
        where T : IOrchestrationService, IOrchestrationServiceClient, DurableTask.Core.Query.IOrchestrationServiceQueryClient,
            IOrchestrationServicePurgeClient
    {
        var wrapped = new SlotsOrchestrationService<T>(inner, orchestrationSlots, activitySlots);
        return (wrapped, wrapped);
    }

    private static AzureStorageOrchestrationServiceSettings AzureStorageSettings(DurableEngineOptions options, TaskHubSettings host,
        string taskHub, ILoggerFactory logging, int orchestrationSlots, int activitySlots)
    {
        var connection = options.StorageConnectionString
            ?? throw new ArgumentException("The Azure Storage engine needs a storage connection string (Azurite's).", nameof(options));
        return new AzureStorageOrchestrationServiceSettings
        {
            StorageAccountClientProvider = new StorageAccountClientProvider(connection),
            TaskHubName = taskHub,
            WorkerId = options.WorkerId ?? Environment.MachineName,
            PartitionCount = host.PartitionCount,
            MaxQueuePollingInterval = host.MaxQueuePollingInterval,
            ControlQueueBatchSize = host.ControlQueueBatchSize,
            ControlQueueVisibilityTimeout = options.ControlQueueVisibilityTimeout ?? host.ControlQueueVisibilityTimeout,
            WorkItemQueueVisibilityTimeout = options.WorkItemQueueVisibilityTimeout ?? host.WorkItemQueueVisibilityTimeout,
            MaxConcurrentTaskOrchestrationWorkItems = orchestrationSlots,
            MaxConcurrentTaskActivityWorkItems = activitySlots,
            ExtendedSessionsEnabled = host.ExtendedSessionsEnabled,
            ExtendedSessionIdleTimeout = host.ExtendedSessionIdleTimeout,
            // As the Functions host sets them.
            ThrowExceptionOnInvalidDedupeStatus = true,
            UseTablePartitionManagement = host.UseTablePartitionManagement,
            LoggerFactory = logging,
        };
    }

    /// <summary>
    /// Stops the worker, the sidecar and the orchestration service. The service is stopped explicitly: stopping the
    /// sidecar's host does not stop it, and a service left running keeps taking work items it will never finish,
    /// which then stay invisible on the queues until their visibility timeout.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await clientHost.StopAsync(timeout.Token);
        if (worker is not null)
        {
            await worker.DisposeAsync();
        }

        await sidecar.StopAsync(timeout.Token);
        if (serviceStarted)
        {
            // The Azure Storage provider takes about a second to stop (its queue loops wake at the polling interval).
            // A test's task hub is its own and is dropped with it, so tests let that finish in the background and
            // wait for all of it once, before Azurite goes (see WaitForBackgroundStopsAsync).
            var stop = service.StopAsync(isForced: true);
            if (stopServiceInBackground)
            {
                lock (BackgroundStops)
                {
                    BackgroundStops.Add(stop);
                }
            }
            else
            {
                await stop;
            }
        }

        channel.Dispose();
        clientHost.Dispose();
        sidecar.Dispose();
    }
}
