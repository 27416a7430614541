using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentSessions.Testing;

/// <summary>
/// The Durable settings of the app's <c>host.json</c> (<c>extensions.durableTask</c>), read from the file itself so
/// the test engines run with what production runs. Missing values take the Functions host's defaults.
/// </summary>
public sealed record TaskHubSettings(
    string HubName,
    int PartitionCount,
    TimeSpan MaxQueuePollingInterval,
    int MaxConcurrentOrchestratorFunctions,
    int MaxConcurrentActivityFunctions,
    bool ExtendedSessionsEnabled,
    TimeSpan ExtendedSessionIdleTimeout,
    int ControlQueueBatchSize,
    TimeSpan ControlQueueVisibilityTimeout,
    TimeSpan WorkItemQueueVisibilityTimeout,
    bool UseTablePartitionManagement)
{
    public static TaskHubSettings FromHostJson() => Parse(File.ReadAllText(RepositoryFiles.HostJson));

    public static TaskHubSettings Parse(string hostJson)
    {
        var root = JsonNode.Parse(hostJson, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip })
            ?? throw new InvalidOperationException("host.json is empty");
        var durable = root["extensions"]?["durableTask"];
        var provider = durable?["storageProvider"];
        return new TaskHubSettings(
            HubName: durable?["hubName"]?.GetValue<string>() ?? "TestHubName",
            PartitionCount: Int(provider, "partitionCount", 4),
            MaxQueuePollingInterval: Time(provider, "maxQueuePollingInterval", TimeSpan.FromSeconds(30)),
            MaxConcurrentOrchestratorFunctions: Int(durable, "maxConcurrentOrchestratorFunctions", 10 * Environment.ProcessorCount),
            MaxConcurrentActivityFunctions: Int(durable, "maxConcurrentActivityFunctions", 10 * Environment.ProcessorCount),
            ExtendedSessionsEnabled: durable?["extendedSessionsEnabled"]?.GetValue<bool>() ?? false,
            ExtendedSessionIdleTimeout: TimeSpan.FromSeconds(Int(durable, "extendedSessionIdleTimeoutInSeconds", 30)),
            ControlQueueBatchSize: Int(provider, "controlQueueBatchSize", 32),
            ControlQueueVisibilityTimeout: Time(provider, "controlQueueVisibilityTimeout", TimeSpan.FromMinutes(5)),
            WorkItemQueueVisibilityTimeout: Time(provider, "workItemQueueVisibilityTimeout", TimeSpan.FromMinutes(5)),
            UseTablePartitionManagement: provider?["useTablePartitionManagement"]?.GetValue<bool>() ?? true);
    }

    private static int Int(JsonNode? node, string name, int fallback) =>
        node?[name] is { } value ? value.GetValue<int>() : fallback;

    private static TimeSpan Time(JsonNode? node, string name, TimeSpan fallback) =>
        node?[name] is { } value ? TimeSpan.Parse(value.GetValue<string>(), CultureInfo.InvariantCulture) : fallback;
}
