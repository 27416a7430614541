using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Messages;
using AgentSessions.Testing;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;

// Usage (every value required unless marked):
//   --mode host|worker      host: the Azure Storage provider, the sidecar and the worker (a whole Functions host);
//                           worker: only the worker, connected to --sidecar (the host's language worker)
//   --storage <connection>  Azurite's connection string (the message store, and the task hub in host mode)
//   --messages <table>      the message store's table
//   --hub <task hub>        host mode
//   --worker-id <id>        host mode: distinct per process on one task hub
//   --sidecar <url>         worker mode
//   --agent-timeout <s>     the scripted agent's step timeout
//   --control-visibility <s> (optional) the control queues' visibility timeout
// Prints "ready" on a line of its own when it takes work; stops cleanly when its standard input closes.
var arguments = Arguments.Parse(args);
var store = new TableMessageStore(new TableClient(arguments.Require("storage"), arguments.Require("messages")));
var agents = new AgentCatalog([
    new AgentDefinition("agi-0", AgentCatalog.ScriptedType, TimeSpan.Zero, Timeout: TimeSpan.FromSeconds(int.Parse(arguments.Require("agent-timeout")))),
]);
var tasks = AppTasks.Register(new AppTaskServices(store, new AgentResolver(agents, TimeProvider.System, new NoHttpClients())));
using var logging = LoggerFactory.Create(builder => builder
    .SetMinimumLevel(LogLevel.Warning)
    .AddSimpleConsole(console => { console.SingleLine = true; console.TimestampFormat = "HH:mm:ss.fff "; })
    .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace));

IAsyncDisposable running = arguments.Require("mode") switch
{
    "host" => await DurableEngine.StartAsync(new DurableEngineOptions(
        DurableEngineKind.AzureStorage,
        StorageConnectionString: arguments.Require("storage"),
        TaskHub: arguments.Require("hub"),
        WorkerId: arguments.Require("worker-id"),
        ControlQueueVisibilityTimeout: arguments.Optional("control-visibility") is { } seconds ? TimeSpan.FromSeconds(int.Parse(seconds)) : null,
        Logging: logging), tasks),
    "worker" => await DurableWorker.StartAsync(new Uri(arguments.Require("sidecar")), tasks, orchestrationSlots: 32, activitySlots: 100, logging),
    var other => throw new ArgumentException($"--mode is '{other}'; expected host or worker"),
};

Console.Out.WriteLine("ready");
Console.Out.Flush();
await Console.In.ReadToEndAsync();
await running.DisposeAsync();

internal sealed record Arguments(Dictionary<string, string> Values)
{
    public static Arguments Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        return new Arguments(values);
    }

    public string Require(string name) => Values.TryGetValue(name, out var value) ? value : throw new ArgumentException($"--{name} is required");

    public string? Optional(string name) => Values.GetValueOrDefault(name);
}

/// <summary>Only scripted agents run here; they make no HTTP calls.</summary>
internal sealed class NoHttpClients : IHttpClientFactory
{
    public HttpClient CreateClient(string name) => throw new NotSupportedException("the test worker runs scripted agents only");
}
