using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Functions.Agents;

/// <summary>Something that executes one step of a task.</summary>
public interface IAgent
{
    Task<AgentStepResult> ExecuteStepAsync(StepRequest request, CancellationToken cancellationToken);
}
