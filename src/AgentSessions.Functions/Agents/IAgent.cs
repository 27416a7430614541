using System.Text.Json;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Functions.Agents;

/// <summary>Something that executes the steps of a task, and may drive a browser for its session.</summary>
public interface IAgent
{
    Task<AgentStepResult> ExecuteStepAsync(StepRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Asks the agent to open <paramref name="url"/> in the browser it keeps for the session
    /// <paramref name="sessionId"/> (the public session id, as in <see cref="StepRequest.SessionId"/>).
    /// </summary>
    /// <exception cref="AgentCapabilityNotSupportedException">The agent has no browser.</exception>
    /// <exception cref="AgentTransientException">The agent could not be reached or failed in a way worth retrying.</exception>
    /// <exception cref="AgentPermanentException">The agent refused the call or broke the protocol.</exception>
    Task<AgentNavigation> NavigateAsync(string sessionId, string url, CancellationToken cancellationToken);

    /// <summary>
    /// The agent's screenshot of the session's browser: the JSON object the agent answered, passed through unchanged.
    /// It always has a string property <c>screenshot</c> (base64 image or a <c>data:</c> URL).
    /// </summary>
    /// <exception cref="AgentCapabilityNotSupportedException">The agent cannot take screenshots.</exception>
    /// <exception cref="AgentTransientException">The agent could not be reached or failed in a way worth retrying.</exception>
    /// <exception cref="AgentPermanentException">The agent refused the call or broke the protocol.</exception>
    Task<JsonElement> ScreenshotAsync(string sessionId, CancellationToken cancellationToken);
}

/// <summary>Where the agent's browser is after a navigation.</summary>
public sealed record AgentNavigation(string CurrentUrl);
