using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;

namespace AgentSessions.Functions.Webhooks;

/// <summary>Binds <see cref="WebhookDispatcherOrchestration"/> to the Functions host.</summary>
public static class WebhookDispatcherFunction
{
    [Function(WebhookDispatcherOrchestration.Name)]
    public static Task RunAsync([OrchestrationTrigger] TaskOrchestrationContext context) =>
        WebhookDispatcherOrchestration.RunAsync(context, context.GetInput<WebhookDispatcherInput>()
            ?? throw new InvalidOperationException("Webhook dispatcher started without input."));
}
