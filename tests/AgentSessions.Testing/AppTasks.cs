using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask;

namespace AgentSessions.Testing;

/// <summary>What the app's activities need, as the Functions host would inject it.</summary>
/// <param name="Webhooks">The delivery activity; without it sessions with a webhook cannot run here.</param>
public sealed record AppTaskServices(
    IMessageStore Store, AgentResolver Agents, DeliverWebhookActivity? Webhooks = null, WebhookLogActivities? WebhookLog = null);

/// <summary>
/// The app's orchestrations and activities, registered under their function names as the Functions host binds them,
/// for the test engines, the test worker process and the benchmark.
/// </summary>
public static class AppTasks
{
    public static Action<DurableTaskRegistry> Register(AppTaskServices services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return registry =>
        {
            registry.AddOrchestratorFunc<SessionInput, SessionStatusSnapshot>(SessionOrchestration.Name,
                (context, input) => SessionOrchestration.RunAsync(context, input));
            registry.AddActivityFunc<AppendMessagesInput>(AppendMessagesActivity.Name,
                (context, input) => new AppendMessagesActivity(services.Store).RunAsync(input, CancellationToken.None));
            registry.AddActivityFunc<StepRequest, AgentStepResult>(RunAgentStepActivity.Name,
                (context, request) => new RunAgentStepActivity(services.Agents).RunAsync(request, CancellationToken.None));
            if (services.Webhooks is { } deliver && services.WebhookLog is { } log)
            {
                RegisterWebhooks(registry, deliver, log);
            }
        };
    }

    /// <summary>The webhook dispatcher and its activities.</summary>
    public static void RegisterWebhooks(DurableTaskRegistry registry, DeliverWebhookActivity deliver, WebhookLogActivities log)
    {
        ArgumentNullException.ThrowIfNull(registry);
        registry.AddOrchestratorFunc<WebhookDispatcherInput>(WebhookDispatcherOrchestration.Name,
            (context, input) => WebhookDispatcherOrchestration.RunAsync(context, input!));
        registry.AddActivityFunc<WebhookAttemptRequest, WebhookAttemptResult>(DeliverWebhookActivity.Name,
            (context, request) => deliver.RunAsync(request, CancellationToken.None));
        registry.AddActivityFunc<WebhookLogBatch>(WebhookLogActivities.RecordEventsName,
            (context, batch) => log.RecordEventsAsync(batch, CancellationToken.None));
        registry.AddActivityFunc<string>(WebhookLogActivities.DeleteLogName,
            (context, sessionKey) => log.DeleteLogAsync(sessionKey, CancellationToken.None));
    }
}
