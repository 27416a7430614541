using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Webhooks;

/// <summary>How the session side reaches a session's webhook dispatcher.</summary>
public static class WebhookDispatch
{
    /// <summary>The one external event every webhook event travels in; one name keeps them in order.</summary>
    public const string EventName = "webhook";

    /// <summary>
    /// The dispatcher of the session whose instance id is <paramref name="sessionInstanceId"/> (<c>owner:uuid</c>).
    /// '|' cannot appear in owner names, so dispatchers never show up in an owner's prefix query.
    /// </summary>
    public static string InstanceId(string sessionInstanceId) => "wh|" + sessionInstanceId;

    /// <summary>
    /// Starts the dispatcher for a new session. Call it before the session orchestration is scheduled, so no
    /// event can be sent to a dispatcher that does not exist yet. Returns the dispatcher's instance id.
    /// </summary>
    public static Task<string> StartAsync(DurableTaskClient client, string sessionInstanceId, string url, WebhookOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(sessionInstanceId);
        ArgumentException.ThrowIfNullOrEmpty(url);
        ArgumentNullException.ThrowIfNull(options);
        return client.ScheduleNewOrchestrationInstanceAsync(
            WebhookDispatcherOrchestration.Name,
            new WebhookDispatcherInput(url, [], 0, 0, options.Retry),
            new StartOrchestrationOptions(InstanceId(sessionInstanceId)),
            cancellationToken);
    }
}
