namespace AgentSessions.Functions.Agents;

/// <summary>A call to an agent failed. The message is written for the session's user and names what went wrong.</summary>
public abstract class AgentCallException : Exception
{
    protected AgentCallException(string agentName, string message, int? statusCode, Exception? innerException)
        : base(message, innerException)
    {
        AgentName = agentName;
        StatusCode = statusCode;
    }

    public string AgentName { get; }

    /// <summary>The HTTP status the agent answered, when it answered at all.</summary>
    public int? StatusCode { get; }
}

/// <summary>
/// The agent could not be reached, timed out, was overloaded (HTTP 408, 429) or failed on its side (HTTP 5xx):
/// the same call may succeed later. <see cref="AgentRetry"/> retries only this type.
/// </summary>
public sealed class AgentTransientException(string agentName, string message, int? statusCode = null, Exception? innerException = null)
    : AgentCallException(agentName, message, statusCode, innerException);

/// <summary>
/// The agent refused the call (HTTP 4xx other than 408 and 429, a redirect) or answered something that breaks the
/// protocol: calling again with the same input would fail the same way, so it is never retried.
/// </summary>
public sealed class AgentPermanentException(string agentName, string message, int? statusCode = null, Exception? innerException = null)
    : AgentCallException(agentName, message, statusCode, innerException);

/// <summary>The agent cannot do this at all (for instance a screenshot from an agent without a browser): HTTP 501.</summary>
public sealed class AgentCapabilityNotSupportedException(string agentName, string capability, string message)
    : Exception(message)
{
    public string AgentName { get; } = agentName;

    /// <summary>What was asked: <c>navigate</c> or <c>screenshot</c>.</summary>
    public string Capability { get; } = capability;
}
