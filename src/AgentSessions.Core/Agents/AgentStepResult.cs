using System.Collections.Immutable;
using System.Text.Json;

namespace AgentSessions.Core.Agents;

/// <summary>How the agent left the task after a step.</summary>
public enum AgentStepStatus
{
    /// <summary>More steps to do.</summary>
    Running,
    /// <summary>The agent asked a question and needs an answer before the next step.</summary>
    WaitingForInput,
    /// <summary>The task is done.</summary>
    Finished,
    /// <summary>The task failed.</summary>
    Error,
}

/// <summary>A message an agent produced during a step.</summary>
public sealed record AgentMessage(string Type, JsonElement Content, JsonElement? Metadata = null);

/// <param name="State">Opaque memory the agent wants back with its next step of the same task
/// (bounded by the orchestration, so keep it small).</param>
public sealed record AgentStepResult(AgentStepStatus Status, ImmutableList<AgentMessage> Messages, string? State = null);
