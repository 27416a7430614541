using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask;

namespace AgentSessions.Testing;

/// <summary>What the app's activities need, as the Functions host would inject it.</summary>
public sealed record AppTaskServices(IMessageStore Store, AgentResolver Agents, DeliverWebhookActivity? Webhooks = null);

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
            registry.AddOrchestratorFunc<WebhookDispatcherInput>(WebhookDispatcherOrchestration.Name,
                (context, input) => WebhookDispatcherOrchestration.RunAsync(context, input!));
            if (services.Webhooks is { } deliver)
            {
                registry.AddActivityFunc<WebhookDelivery, WebhookDeliveryResult>(DeliverWebhookActivity.Name,
                    (context, delivery) => deliver.RunAsync(delivery, CancellationToken.None));
            }
        };
    }
}
