using System.Globalization;
using System.Text;
using System.Text.Json;
using AgentSessions.Core.Sessions;
using Microsoft.Extensions.AI;

namespace AgentSessions.Functions.Agents.Llm;

/// <summary>
/// Rebuilds the conversation the model sees from the session's stored messages, every step: nothing of it is kept
/// anywhere else. USER messages are user turns; the agent's own messages of one step become that turn's assistant
/// message (its tool calls) and their results; everything else the session wrote (cancellations, navigations, errors)
/// is a system note. The window is bounded (see <see cref="Build"/>).
/// </summary>
public static class LlmConversation
{
    /// <summary>Metadata key: the tool whose call wrote the message (absent for plain text the model wrote).</summary>
    public const string ToolKey = "tool";

    /// <summary>Metadata key (internal): the id of the model's tool call.</summary>
    public const string CallIdKey = "_call_id";

    /// <summary>
    /// Metadata key (internal): the last session message id the model had seen when it wrote this message. A turn is
    /// placed right after that message when the conversation is rebuilt, so input that arrived while the model was
    /// working comes after the turn, as it happened, not before it (its id is lower than the turn's own).
    /// </summary>
    public const string SeenIdKey = "_seen_id";

    /// <summary>The built-in instructions; <see cref="LlmAgentOptions.SystemPrompt"/> replaces them.</summary>
    public const string DefaultInstructions = """
        You are an agent that works on tasks for a user, step by step, inside a session. You act only through your tools,
        and every reply of yours is one step that should call at least one tool:
        - think: share your reasoning or plan with the user.
        - log: report an action you took or a fact you established.
        - ask_user: ask the user when you need information, a decision or approval; the task waits for the answer.
        - finish: end the task with a summary of the result once it is done.
        - fail: end the task when it cannot be done, saying why.
        Messages the user sends while you work arrive as user messages: take them into account. Never invent facts;
        when unsure, ask. Be concise. Finish as soon as the task is done.
        """;

    public const string FetchInstructions =
        "- fetch_url: read a web page as text; its text comes back as the tool's result in your next step.";

    /// <summary>The conversation for one turn, and what the agent remembers for the next one.</summary>
    public sealed record Turn(IList<ChatMessage> Messages, LlmMemory Memory, string? CurrentPage, int MessagesLeftOut);

    /// <summary>
    /// Builds the turn's conversation from <paramref name="stored"/>: the session's latest messages up to and including
    /// <paramref name="seenId"/>, ascending (at most <see cref="LlmAgentOptions.HistoryMessages"/> of them). When their text
    /// is longer than <see cref="LlmAgentOptions.HistoryChars"/>, the oldest are left out, whole turns at a time, and a
    /// note says how many; the current task's text is always kept.
    /// </summary>
    public static Turn Build(StepRequest request, LlmAgentOptions options, IReadOnlyList<SessionMessage> stored, long seenId, LlmMemory? memory)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stored);
        var messages = stored.Where(m => m.Id <= seenId).ToList();

        var taskStart = memory?.TaskStartId ?? messages.LastOrDefault(m => m.Type == MessageTypes.User
            && m.Content.ValueKind == JsonValueKind.String && m.Content.GetString() == request.Task)?.Id;
        var page = CurrentPage(messages, request, memory, taskStart);

        var items = Items(messages);
        var kept = Window(items, options.HistoryChars);
        var keptMessages = kept.Sum(i => i.Messages.Count);
        var leftOut = (int)Math.Max(0, seenId - keptMessages);

        var conversation = new List<ChatMessage> { new(ChatRole.System, Instructions(options)) };
        if (leftOut > 0)
        {
            conversation.Add(new ChatMessage(ChatRole.System, string.Create(CultureInfo.InvariantCulture,
                $"The {leftOut} earliest messages of this session are not shown.")));
        }

        if (taskStart is null || !kept.Any(i => i.Messages.Any(m => m.Id == taskStart)))
        {
            conversation.Add(new ChatMessage(ChatRole.User, TaskText(request, earlier: taskStart is not null || leftOut > 0)));
        }

        foreach (var item in kept)
        {
            Render(item, conversation, request, taskStart);
        }

        conversation.Add(new ChatMessage(ChatRole.System, StepNote(request, options, page)));
        return new Turn(conversation, new LlmMemory(taskStart, page), page, leftOut);
    }

    /// <summary>Characters an item costs in the window: its content's text (a fair proxy for its tokens).</summary>
    private static int Chars(SessionMessage message) => TextOf(message.Content).Length + 16;

    /// <summary>The plain text of a message's content: a string as it is, an object as its JSON.</summary>
    public static string TextOf(JsonElement content) =>
        content.ValueKind == JsonValueKind.String ? content.GetString()! : content.GetRawText();

    public static string? StringOf(JsonElement metadata, string key) =>
        metadata.ValueKind == JsonValueKind.Object && metadata.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static long? LongOf(JsonElement metadata, string key) =>
        metadata.ValueKind == JsonValueKind.Object && metadata.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.Number
            && value.TryGetInt64(out var number)
            ? number
            : null;

    /// <summary>
    /// The page <c>fetch_url</c> reads by default: where the user navigated since the task started; else what the agent
    /// remembered from its previous step; else the task's start URL; else where the user last navigated before the task.
    /// </summary>
    private static string? CurrentPage(List<SessionMessage> messages, StepRequest request, LlmMemory? memory, long? taskStart)
    {
        var navigations = messages.Where(m => m.Type == MessageTypes.Log && StringOf(m.Metadata, "event") == "navigate"
            && StringOf(m.Metadata, "url") is not null).ToList();
        var sinceStart = navigations.LastOrDefault(m => taskStart is { } start && m.Id > start);
        if (sinceStart is not null)
        {
            return StringOf(sinceStart.Metadata, "url");
        }

        if (memory is not null)
        {
            return memory.Page;
        }

        return request.StartUrl ?? (navigations.Count > 0 ? StringOf(navigations[^1].Metadata, "url") : null);
    }

    private static string Instructions(LlmAgentOptions options)
    {
        if (options.SystemPrompt is { } custom)
        {
            return custom;
        }

        return options.FetchUrl ? DefaultInstructions + "\n" + FetchInstructions : DefaultInstructions;
    }

    private static string TaskText(StepRequest request, bool earlier)
    {
        var text = new StringBuilder(earlier ? "The current task (from earlier in this session): " : string.Empty).Append(request.Task);
        if (request.StartUrl is { } url)
        {
            text.Append("\n\nStart URL: ").Append(url);
        }

        return text.ToString();
    }

    private static string StepNote(StepRequest request, LlmAgentOptions options, string? page)
    {
        var note = new StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"You are on task {request.TaskNumber} of this session, step {request.StepNumber} of at most {request.MaxSteps}."));
        if (options.FetchUrl)
        {
            note.Append(page is null ? " There is no current page." : $" The current page is {page}.");
        }

        if (request.StepNumber >= request.MaxSteps)
        {
            note.Append(" This is the task's last step: call finish, or fail, now.");
        }

        return note.ToString();
    }

    /// <summary>One place in the conversation: a user message, a session note, or one model turn (all its messages).</summary>
    private sealed record Item(double Order, List<SessionMessage> Messages, bool IsTurn)
    {
        public int Chars => Messages.Sum(LlmConversation.Chars);
    }

    private static List<Item> Items(List<SessionMessage> messages)
    {
        var items = new List<Item>();
        var turns = new Dictionary<(long Task, long Step), Item>();
        foreach (var message in messages)
        {
            if (LongOf(message.Metadata, SeenIdKey) is { } seen
                && LongOf(message.Metadata, "task") is { } task && LongOf(message.Metadata, "step") is { } step)
            {
                if (!turns.TryGetValue((task, step), out var turn))
                {
                    turn = new Item(seen + 0.5, [], IsTurn: true);
                    turns[(task, step)] = turn;
                    items.Add(turn);
                }

                turn.Messages.Add(message);
                continue;
            }

            items.Add(new Item(message.Id, [message], IsTurn: false));
        }

        // A turn that started before the first message read may have lost its first messages to the window: left out.
        var firstRead = messages.Count > 0 ? messages[0].Id : 0;
        return [.. items.Where(i => !i.IsTurn || i.Order + 0.5 >= firstRead - 1).OrderBy(i => i.Order)];
    }

    /// <summary>The newest items whose text fits <paramref name="budget"/>; the newest one always.</summary>
    private static List<Item> Window(List<Item> items, int budget)
    {
        var total = 0;
        var first = items.Count;
        while (first > 0 && (first == items.Count || total + items[first - 1].Chars <= budget))
        {
            total += items[first - 1].Chars;
            first--;
        }

        return items.GetRange(first, items.Count - first);
    }

    private static void Render(Item item, List<ChatMessage> conversation, StepRequest request, long? taskStart)
    {
        if (item.IsTurn)
        {
            RenderTurn(item.Messages, conversation);
            return;
        }

        var message = item.Messages[0];
        if (message.Type == MessageTypes.User)
        {
            var text = TextOf(message.Content);
            if (message.Id == taskStart && request.StartUrl is { } url)
            {
                text += "\n\nStart URL: " + url;
            }

            conversation.Add(new ChatMessage(ChatRole.User, text));
            return;
        }

        var note = StringOf(message.Metadata, "event") == "navigate" && StringOf(message.Metadata, "url") is { } target
            ? $"Session event: the user navigated the browser to {target}."
            : $"Session event ({message.Type}): {TextOf(message.Content)}";
        conversation.Add(new ChatMessage(ChatRole.System, note));
    }

    /// <summary>One assistant message with the turn's text and tool calls, then one tool message with their results.</summary>
    private static void RenderTurn(List<SessionMessage> messages, List<ChatMessage> conversation)
    {
        var assistant = new List<AIContent>();
        var results = new List<AIContent>();
        foreach (var message in messages)
        {
            var tool = StringOf(message.Metadata, ToolKey);
            if (tool is null)
            {
                assistant.Add(new TextContent(TextOf(message.Content)));
                continue;
            }

            var callId = StringOf(message.Metadata, CallIdKey) ?? string.Create(CultureInfo.InvariantCulture, $"call_{message.Id}");
            assistant.Add(new FunctionCallContent(callId, tool, Arguments(tool, message)));
            results.Add(new FunctionResultContent(callId, ResultOf(tool, message)));
        }

        conversation.Add(new ChatMessage(ChatRole.Assistant, assistant));
        if (results.Count > 0)
        {
            conversation.Add(new ChatMessage(ChatRole.Tool, results));
        }
    }

    /// <summary>The call's arguments as the model made them, recovered from what the call wrote.</summary>
    private static Dictionary<string, object?> Arguments(string tool, SessionMessage message)
    {
        return tool switch
        {
            LlmTools.Finish when message.Content.ValueKind == JsonValueKind.Object && message.Content.TryGetProperty("summary", out var summary)
                => new() { ["summary"] = TextOf(summary) },
            LlmTools.FetchUrl => StringOf(message.Metadata, "requested_url") is { } url ? new() { ["url"] = url } : [],
            LlmTools.Think or LlmTools.Log or LlmTools.AskUser or LlmTools.Finish or LlmTools.Fail
                => new() { [LlmTools.ArgumentOf(tool)] = TextOf(message.Content) },
            _ => [],
        };
    }

    private static string ResultOf(string tool, SessionMessage message) => tool switch
    {
        LlmTools.AskUser => "The question was shown to the user. Their answer arrives as a user message.",
        LlmTools.Finish => "The task was marked finished.",
        LlmTools.Fail => "The task was marked failed.",
        LlmTools.FetchUrl => TextOf(message.Content),
        _ => "Recorded.",
    };
}

/// <summary>
/// What an LLM agent carries from one step of a task to the next (the step's agent state; small): the id of the
/// USER message that started the task and the current page.
/// </summary>
public sealed record LlmMemory(long? TaskStartId, string? Page)
{
    public static LlmMemory? Read(string? state)
    {
        if (string.IsNullOrEmpty(state))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(state);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            long? start = root.TryGetProperty("task_start_id", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var id) ? id : null;
            var page = root.TryGetProperty("page", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            return new LlmMemory(start, page);
        }
        catch (JsonException)
        {
            // Not ours (the session switched agents? it cannot): start afresh rather than fail the task.
            return null;
        }
    }

    public string Write() => JsonSerializer.Serialize(new Dictionary<string, object?> { ["task_start_id"] = TaskStartId, ["page"] = Page });
}
