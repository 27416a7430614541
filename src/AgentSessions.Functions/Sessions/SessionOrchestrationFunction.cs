using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;

namespace AgentSessions.Functions.Sessions;

/// <summary>Binds <see cref="SessionOrchestration"/> to the Functions host.</summary>
public static class SessionOrchestrationFunction
{
    [Function(SessionOrchestration.Name)]
    public static Task<SessionStatusSnapshot> RunAsync([OrchestrationTrigger] TaskOrchestrationContext context) =>
        SessionOrchestration.RunAsync(context, context.GetInput<SessionInput>()
            ?? throw new InvalidOperationException("Session orchestration started without input."));
}
