using Microsoft.DurableTask;

namespace AgentSessions.Functions.Agents;

/// <summary>
/// How the orchestration retries an agent step (see <see cref="AgentStepRunner"/>): only failures caused by
/// <see cref="AgentTransientException"/> (unreachable, timed out, HTTP 408/429/5xx), at most <see cref="MaxAttempts"/>
/// attempts in all, 1 s, 2 s, 4 s apart (doubling, capped at 15 s). Anything else fails the step at once, so a broken
/// contract is reported at once and an endpoint that keeps failing ends the task with ERROR after the last attempt.
/// </summary>
public static class AgentRetry
{
    public const int MaxAttempts = 4;
    public static readonly TimeSpan FirstRetryInterval = TimeSpan.FromSeconds(1);
    public const double BackoffCoefficient = 2;
    public static readonly TimeSpan MaxRetryInterval = TimeSpan.FromSeconds(15);

    /// <summary>The wait before retry number <paramref name="retry"/> (1 for the first retry).</summary>
    public static TimeSpan Delay(int retry, TimeSpan first, TimeSpan max) =>
        TimeSpan.FromTicks((long)Math.Min(max.Ticks, first.Ticks * Math.Pow(BackoffCoefficient, retry - 1)));

    /// <summary>
    /// Whether a failed attempt is worth another. Matches the exception's full type name on the failure or any inner
    /// failure; as a last resort, the name in the message, for hosts that report the worker's exception wrapped in
    /// their own (older isolated-worker versions report <c>RpcException</c> with the original type in the text).
    /// </summary>
    public static bool IsTransient(TaskFailureDetails? failure)
    {
        var transient = typeof(AgentTransientException).FullName!;
        for (var current = failure; current is not null; current = current.InnerFailure)
        {
            if (string.Equals(current.ErrorType, transient, StringComparison.Ordinal))
            {
                return true;
            }
        }

        for (var current = failure; current is not null; current = current.InnerFailure)
        {
            if (!string.Equals(current.ErrorType, typeof(AgentPermanentException).FullName, StringComparison.Ordinal)
                && current.ErrorMessage?.Contains(transient + ": ", StringComparison.Ordinal) == true)
            {
                return true;
            }
        }

        return false;
    }
}
