using System.Collections.Immutable;
using System.Text.Json;

namespace AgentSessions.Core.Sessions;

/// <summary>Something that happened to a session that outside parties (webhooks) are told about.</summary>
public sealed record SessionNotice(string Event, JsonElement Data);

/// <summary>
/// Derives the notices a decision implies, from the state before and after it. Pure, so the
/// orchestration emits exactly the same notices on every replay.
/// </summary>
public static class SessionNotices
{
    public const string Created = "session.created";
    public const string StatusChanged = "session.status_changed";
    public const string TaskStarted = "task.started";
    public const string TaskDone = "task.done";
    public const string TaskQuestion = "task.question";
    public const string TaskError = "task.error";
    public const string Deleted = "session.deleted";

    public static SessionNotice ForCreated(SessionState state) => new(Created, Data(new Dictionary<string, object?>
    {
        ["agent_name"] = state.AgentName,
        ["status"] = state.VisibleStatus.ToWire(),
        ["max_steps"] = state.MaxSteps,
    }));

    /// <summary>In the order they happen: agent messages of an ending task, a task starting, the status change, deletion.</summary>
    public static ImmutableList<SessionNotice> Between(SessionState before, SessionDecision decision)
    {
        var after = decision.State;
        var notices = ImmutableList.CreateBuilder<SessionNotice>();

        foreach (var message in decision.Effects.OfType<AppendMessages>().SelectMany(a => a.Messages))
        {
            var (name, field) = message.Type switch
            {
                MessageTypes.Done => (TaskDone, "result"),
                MessageTypes.Question => (TaskQuestion, "question"),
                MessageTypes.Error => (TaskError, "error"),
                _ => (null, null),
            };
            if (name is not null)
            {
                notices.Add(new SessionNotice(name, Data(new Dictionary<string, object?>
                {
                    ["message_id"] = message.Id,
                    [field!] = message.Content,
                })));
            }
        }

        for (var number = before.TaskCount + 1; number <= after.TaskCount; number++)
        {
            notices.Add(new SessionNotice(TaskStarted, Data(new Dictionary<string, object?>
            {
                ["task_number"] = number,
                ["task"] = after.Task?.Number == number ? after.Task.Text : null,
            })));
        }

        if (before.VisibleStatus != after.VisibleStatus)
        {
            notices.Add(new SessionNotice(StatusChanged, Data(new Dictionary<string, object?>
            {
                ["old_status"] = before.VisibleStatus.ToWire(),
                ["new_status"] = after.VisibleStatus.ToWire(),
                ["reason"] = after.Reason,
            })));
        }

        if (after.Deleted && !before.Deleted)
        {
            notices.Add(new SessionNotice(Deleted, Data(new Dictionary<string, object?>())));
        }

        return notices.ToImmutable();
    }

    private static JsonElement Data(Dictionary<string, object?> fields) => JsonSerializer.SerializeToElement(fields);
}
