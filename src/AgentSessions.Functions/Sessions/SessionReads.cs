using System.Text.Json;
using AgentSessions.Core.Sessions;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Sessions;

/// <summary>How the HTTP side reads a session from its orchestration's metadata.</summary>
public static class SessionReads
{
    /// <summary>
    /// The session as last published. Before the first episode has run there is no custom status
    /// yet, so the view is predicted from the input by applying its queued commands with the same
    /// rules the orchestration will use. A session whose orchestration failed or was stopped shows
    /// <c>error</c> with the reason: it does not run anything any more, whatever it last published.
    /// </summary>
    /// <param name="withGoal">Also read the goal, which lives in the orchestration's input (GET of one session needs it).</param>
    public static SessionView? ReadView(OrchestrationMetadata? metadata, bool withGoal = true)
    {
        if (metadata is null)
        {
            return null;
        }

        var sessionId = SessionIds.SessionIdOf(metadata.InstanceId);
        var snapshot = Snapshot(metadata);
        SessionView view;
        if (snapshot is null)
        {
            if (metadata.SerializedInput is null || metadata.ReadInputAs<SessionInput>() is not { } input)
            {
                return null;
            }

            view = Predict(input);
        }
        else
        {
            var goal = withGoal && metadata.SerializedInput is not null ? metadata.ReadInputAs<SessionInput>()?.State.Goal : null;
            view = SessionView.From(sessionId, snapshot, goal);
        }

        return HasStopped(metadata) && !view.Deleted
            ? view with { Status = SessionStatus.Error.ToWire(), Reason = FailureReason(metadata) }
            : view;
    }

    /// <summary>The last published snapshot: the custom status, or the output of an orchestration that ended.</summary>
    public static SessionStatusSnapshot? Snapshot(OrchestrationMetadata metadata)
    {
        if (metadata.SerializedCustomStatus is not null && metadata.ReadCustomStatusAs<SessionStatusSnapshot>() is { } published)
        {
            return published;
        }

        return metadata.SerializedOutput is not null && metadata.RuntimeStatus == OrchestrationRuntimeStatus.Completed
            ? metadata.ReadOutputAs<SessionStatusSnapshot>()
            : null;
    }

    /// <summary>The view the input's queued commands lead to, as the orchestration will apply them.</summary>
    public static SessionView Predict(SessionInput input)
    {
        var state = input.State;
        foreach (var command in input.Pending.Select(c => c.ToCommandOrNull()).OfType<SessionCommand>())
        {
            state = SessionDecider.Decide(state, command, state.LastActivityAt).State;
        }

        return SessionView.From(state, input.Results, input.Counts);
    }

    public static bool IsLive(OrchestrationMetadata metadata) => metadata.RuntimeStatus is
        OrchestrationRuntimeStatus.Running or OrchestrationRuntimeStatus.Pending or OrchestrationRuntimeStatus.Suspended;

    /// <summary>Failed, or terminated from outside: nothing will apply commands until the session is restarted.</summary>
    public static bool HasStopped(OrchestrationMetadata metadata) => metadata.RuntimeStatus is
        OrchestrationRuntimeStatus.Failed or OrchestrationRuntimeStatus.Terminated;

    /// <summary>Why the orchestration stopped, in a sentence short enough for a status.</summary>
    public static string FailureReason(OrchestrationMetadata metadata)
    {
        var detail = metadata.FailureDetails?.ErrorMessage ?? OutputMessage(metadata.SerializedOutput) ?? metadata.RuntimeStatus.ToString();
        var reason = metadata.RuntimeStatus == OrchestrationRuntimeStatus.Terminated
            ? $"the session's orchestration was terminated: {detail}"
            : $"the session's orchestration failed: {detail}";
        return reason.Length <= SessionState.MaxReasonLength ? reason : reason[..(SessionState.MaxReasonLength - 1)] + "…";
    }

    /// <summary>
    /// A failed orchestration's output as the Functions host writes it (<c>{"message","details"}</c>), or a terminate
    /// reason (a JSON string).
    /// </summary>
    private static string? OutputMessage(string? output)
    {
        if (string.IsNullOrWhiteSpace(output))
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(output);
            return json.RootElement switch
            {
                { ValueKind: JsonValueKind.String } text => text.GetString(),
                { ValueKind: JsonValueKind.Object } failure => FirstLine(failure, "details") ?? FirstLine(failure, "message"),
                _ => output,
            };
        }
        catch (JsonException)
        {
            return output;
        }
    }

    private static string? FirstLine(JsonElement failure, string property) =>
        failure.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()?.Split('\n', 2)[0].Trim()
            : null;
}
