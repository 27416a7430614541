using System.ClientModel;
using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Messages;
using Azure.Identity;
using Microsoft.Extensions.AI;

namespace AgentSessions.Functions.Agents.Llm;

/// <summary>
/// An agent that is a language model behind any OpenAI-compatible chat-completions endpoint. One step is one model
/// turn: the conversation is rebuilt from the session's stored messages (<see cref="LlmConversation"/>), the model
/// answers with tool calls (<see cref="LlmTools"/>), and each call becomes a session message. Failures of the call are
/// thrown as <see cref="AgentTransientException"/> (timeouts, unreachable, 408/429/5xx: the orchestration retries the
/// step) or <see cref="AgentPermanentException"/> (other 4xx, an answer that is no chat completion); a tool call the
/// agent cannot use ends the task with an ERROR that says what was wrong. Calls are never retried here.
/// </summary>
public sealed class LlmAgent : IAgent
{
    /// <summary>Tool calls of one turn carried out; any beyond are dropped (the step result must stay small).</summary>
    public const int MaxToolCallsPerTurn = 16;

    /// <summary>Pages one turn may fetch; further <c>fetch_url</c> calls get an error result.</summary>
    public const int MaxFetchesPerTurn = 3;

    /// <summary>Longest text of one message the model writes; longer text is cut.</summary>
    public const int MaxMessageChars = 32_000;

    private const int ReadPageSize = 1000;

    private readonly LlmAgentOptions options;
    private readonly IMessageStore store;
    private readonly IHttpClientFactory httpClients;
    private readonly TimeProvider time;
    private readonly LlmChatClients chatClients;
    private readonly PageFetcher fetcher;

    public LlmAgent(LlmAgentOptions options, IMessageStore store, IHttpClientFactory httpClients, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(httpClients);
        ArgumentNullException.ThrowIfNull(time);
        this.options = options;
        this.store = store;
        this.httpClients = httpClients;
        this.time = time;
        chatClients = new LlmChatClients(options);
        fetcher = new PageFetcher(httpClients, options);
    }

    private string Name => options.AgentName;

    public async Task<AgentStepResult> ExecuteStepAsync(StepRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var instanceId = request.InstanceId ?? throw new AgentPermanentException(Name,
            $"Agent '{Name}' needs the session's instance id to read its messages, and the step request has none.");
        var (stored, seenId) = await ReadAsync(instanceId, request.LastMessageId, cancellationToken);
        var turn = LlmConversation.Build(request, options, stored, seenId, LlmMemory.Read(request.AgentState));

        var chatOptions = new ChatOptions
        {
            ModelId = options.Model,
            Temperature = options.Temperature,
            MaxOutputTokens = options.MaxOutputTokens,
            Tools = LlmTools.Declarations(options.FetchUrl),
            ToolMode = options.RequireToolCall ? ChatToolMode.RequireAny : ChatToolMode.Auto,
        };
        var started = time.GetTimestamp();
        var response = await CallAsync(turn.Messages, chatOptions, cancellationToken);
        var usage = Usage(response, time.GetElapsedTime(started));
        return await ActAsync(request, response, usage, seenId, turn, cancellationToken);
    }

    public Task<AgentNavigation> NavigateAsync(string sessionId, string url, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(url);
        if (!options.FetchUrl)
        {
            throw new AgentCapabilityNotSupportedException(Name, "navigate",
                $"Agent '{Name}' is an llm agent without fetch_url (setting Agents__{Name}__FetchUrl), so it has no page to navigate.");
        }

        // Nothing is fetched now: the session records the URL, and the next fetch_url without a url reads it.
        return Task.FromResult(new AgentNavigation(url));
    }

    public Task<JsonElement> ScreenshotAsync(string sessionId, CancellationToken cancellationToken) =>
        throw new AgentCapabilityNotSupportedException(Name, "screenshot",
            $"Agent '{Name}' is an llm agent without a browser, so it cannot take screenshots.");

    /// <summary>
    /// The session's latest messages up to the step's <see cref="StepRequest.LastMessageId"/> (ids are dense, so the
    /// window is one range read), and that id. Without it, every page is read and the tail kept.
    /// </summary>
    private async Task<(IReadOnlyList<SessionMessage> Messages, long SeenId)> ReadAsync(string instanceId, long? lastMessageId, CancellationToken cancellationToken)
    {
        try
        {
            if (lastMessageId is { } last)
            {
                var after = Math.Max(0, last - options.HistoryMessages);
                var window = await store.ReadAsync(instanceId, after, (int)(last - after), cancellationToken);
                return ([.. window.Where(m => m.Id <= last)], last);
            }

            var tail = new Queue<SessionMessage>();
            long afterId = 0;
            while (true)
            {
                var page = await store.ReadAsync(instanceId, afterId, ReadPageSize, cancellationToken);
                foreach (var message in page)
                {
                    tail.Enqueue(message);
                    if (tail.Count > options.HistoryMessages)
                    {
                        tail.Dequeue();
                    }
                }

                if (page.Count < ReadPageSize)
                {
                    return ([.. tail], tail.Count > 0 ? tail.Last().Id : afterId);
                }

                afterId = page[^1].Id;
            }
        }
        catch (Azure.RequestFailedException failure)
        {
            throw new AgentTransientException(Name, $"Agent '{Name}' could not read the session's messages: {failure.Message}", null, failure);
        }
    }

    private async Task<ChatResponse> CallAsync(IList<ChatMessage> messages, ChatOptions chatOptions, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        var client = chatClients.Create(httpClients.CreateClient(HttpAgent.HttpClientName));
        try
        {
            return await client.GetResponseAsync(messages, chatOptions, timeout.Token);
        }
        catch (OperationCanceledException failure) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AgentTransientException(Name, string.Create(CultureInfo.InvariantCulture,
                $"The model endpoint of agent '{Name}' did not answer within {options.Timeout.TotalSeconds:0.###} s (setting Agents__{Name}__TimeoutSeconds)."), null, failure);
        }
        catch (ClientResultException failure)
        {
            throw Failure(failure);
        }
        catch (HttpRequestException failure)
        {
            throw new AgentTransientException(Name, $"The model endpoint of agent '{Name}' could not be reached: {failure.Message}", null, failure);
        }
        catch (IOException failure)
        {
            throw new AgentTransientException(Name, $"The model endpoint of agent '{Name}' broke off its answer: {failure.Message}", null, failure);
        }
        catch (CredentialUnavailableException failure)
        {
            throw new AgentPermanentException(Name,
                $"Agent '{Name}' authenticates with a managed identity (setting Agents__{Name}__Credential), but none is available here: {failure.Message}", null, failure);
        }
        catch (AuthenticationFailedException failure)
        {
            throw new AgentTransientException(Name, $"Agent '{Name}' could not get a token for its model endpoint: {failure.Message}", null, failure);
        }
        catch (Exception failure) when (failure is JsonException or FormatException or InvalidOperationException or ArgumentException or KeyNotFoundException)
        {
            throw new AgentPermanentException(Name,
                $"The model endpoint of agent '{Name}' answered something that is not a chat completion ({failure.GetType().Name}: {failure.Message}).", null, failure);
        }
    }

    /// <summary>408, 429 and 5xx (and no answer at all) are transient; everything else is permanent. The body's start is quoted.</summary>
    private AgentCallException Failure(ClientResultException failure)
    {
        var status = failure.Status;
        if (status == 0)
        {
            return new AgentTransientException(Name,
                $"The model endpoint of agent '{Name}' could not be reached: {failure.InnerException?.Message ?? failure.Message}", null, failure);
        }

        var raw = failure.GetRawResponse();
        var reason = string.IsNullOrEmpty(raw?.ReasonPhrase) ? string.Empty : $" ({raw.ReasonPhrase})";
        var snippet = Snippet(raw);
        var text = string.Create(CultureInfo.InvariantCulture, $"The model endpoint of agent '{Name}' answered HTTP {status}{reason}")
            + (snippet.Length > 0 ? $": {snippet}" : ".");
        if (status is >= 300 and < 400)
        {
            return new AgentPermanentException(Name, text + $" Redirects are not followed: configure the final URL in Agents__{Name}__Endpoint.", status);
        }

        return status is 408 or 429 or >= 500
            ? new AgentTransientException(Name, text, status, failure)
            : new AgentPermanentException(Name, text, status, failure);
    }

    private static string Snippet(System.ClientModel.Primitives.PipelineResponse? response)
    {
        try
        {
            var body = response?.Content?.ToString() ?? string.Empty;
            body = string.Join(' ', body.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
            return body.Length <= 300 ? body : string.Concat(body.AsSpan(0, 297), "...");
        }
        catch (InvalidOperationException)
        {
            return string.Empty;
        }
    }

    /// <summary>The model, tokens in and out, and latency of the turn: the same on every message the turn writes.</summary>
    private Dictionary<string, object?> Usage(ChatResponse response, TimeSpan latency) => new()
    {
        ["model"] = string.IsNullOrEmpty(response.ModelId) ? options.Model : response.ModelId,
        ["input_tokens"] = response.Usage?.InputTokenCount,
        ["output_tokens"] = response.Usage?.OutputTokenCount,
        ["latency_ms"] = (long)Math.Round(latency.TotalMilliseconds),
    };

    /// <summary>Carries out the turn: checks every tool call, then writes one message per text and call, in order.</summary>
    private async Task<AgentStepResult> ActAsync(
        StepRequest request, ChatResponse response, Dictionary<string, object?> usage, long seenId, LlmConversation.Turn turn,
        CancellationToken cancellationToken)
    {
        var contents = response.Messages.SelectMany(m => m.Contents)
            .Where(c => c is FunctionCallContent || c is TextContent { Text: var t } && !string.IsNullOrWhiteSpace(t))
            .ToList();
        var calls = contents.OfType<FunctionCallContent>().Take(MaxToolCallsPerTurn).ToList();
        contents = [.. contents.Where(c => c is TextContent || calls.Contains(c))];
        var state = turn.Memory.Write();

        var arguments = new Dictionary<FunctionCallContent, string?>();
        foreach (var call in calls)
        {
            if (!LlmTools.TryRead(call, options.FetchUrl, out var argument, out var problem))
            {
                var text = $"The model's call to {(string.IsNullOrEmpty(call.Name) ? "a tool without a name" : $"'{Shorten(call.Name)}'")} could not be used: it {problem}.{CutOffHint(response)}";
                return Failed(text, usage, "malformed_tool_call", state);
            }

            arguments[call] = argument;
        }

        if (contents.Count == 0)
        {
            var why = response.FinishReason == ChatFinishReason.ContentFilter
                ? "The model's answer was withheld by the endpoint's content filter."
                : $"The model answered with neither a tool call nor text.{CutOffHint(response)}";
            return Failed(why, usage, response.FinishReason == ChatFinishReason.ContentFilter ? "content_filter" : "empty_answer", state);
        }

        var messages = ImmutableList.CreateBuilder<AgentMessage>();
        var status = AgentStepStatus.Running;
        var ended = false;
        var fetches = 0;
        foreach (var content in contents)
        {
            if (ended)
            {
                break;
            }

            if (content is TextContent text)
            {
                messages.Add(Message(MessageTypes.Thought, Text(text.Text), usage, seenId, tool: null, callId: null));
                continue;
            }

            var call = (FunctionCallContent)content;
            var argument = arguments[call];
            switch (call.Name)
            {
                case LlmTools.Think:
                    messages.Add(Message(MessageTypes.Thought, Text(argument!), usage, seenId, call.Name, call.CallId));
                    break;
                case LlmTools.Log:
                    messages.Add(Message(MessageTypes.Log, Text(argument!), usage, seenId, call.Name, call.CallId));
                    break;
                case LlmTools.AskUser:
                    messages.Add(Message(MessageTypes.Question, Text(argument!), usage, seenId, call.Name, call.CallId));
                    (status, ended) = (AgentStepStatus.WaitingForInput, true);
                    break;
                case LlmTools.Finish:
                    var done = JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["summary"] = Cut(argument!) });
                    messages.Add(Message(MessageTypes.Done, done, usage, seenId, call.Name, call.CallId));
                    (status, ended) = (AgentStepStatus.Finished, true);
                    break;
                case LlmTools.Fail:
                    messages.Add(Message(MessageTypes.Error, Text(argument!), usage, seenId, call.Name, call.CallId));
                    (status, ended) = (AgentStepStatus.Error, true);
                    break;
                case LlmTools.FetchUrl:
                    fetches++;
                    messages.Add(await FetchAsync(argument, turn.CurrentPage, fetches, usage, seenId, call.CallId, cancellationToken));
                    break;
            }
        }

        return new AgentStepResult(status, messages.ToImmutable(), state);
    }

    private async Task<AgentMessage> FetchAsync(
        string? requested, string? currentPage, int fetchNumber, Dictionary<string, object?> usage, long seenId, string callId,
        CancellationToken cancellationToken)
    {
        var url = requested ?? currentPage;
        var started = time.GetTimestamp();
        var page = url is null
            ? new FetchedPage(string.Empty, null, null, null, null, null, false, "no url was given and there is no current page (none was navigated to, and the task has no start URL)")
            : fetchNumber > MaxFetchesPerTurn
                ? new FetchedPage(url, null, null, null, null, null, false, $"not fetched: at most {MaxFetchesPerTurn} pages per step")
                : await fetcher.FetchAsync(url, cancellationToken);
        var elapsed = time.GetElapsedTime(started);

        var content = new Dictionary<string, object?> { ["url"] = page.FinalUrl ?? page.Url };
        if (page.Succeeded)
        {
            content["status"] = page.Status;
            content["content_type"] = page.ContentType;
            content["title"] = page.Title;
            content["truncated"] = page.Truncated;
            content["text"] = page.Text;
        }
        else
        {
            content["error"] = page.Error;
        }

        var message = Message(MessageTypes.Log, JsonSerializer.SerializeToElement(content), usage, seenId, LlmTools.FetchUrl, callId);
        var metadata = message.Metadata!.Value.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        if (requested is not null)
        {
            metadata["requested_url"] = requested;
        }

        metadata["fetch_ms"] = (long)Math.Round(elapsed.TotalMilliseconds);
        return message with { Metadata = JsonSerializer.SerializeToElement(metadata) };
    }

    private static AgentMessage Message(string type, JsonElement content, Dictionary<string, object?> usage, long seenId, string? tool, string? callId)
    {
        var metadata = new Dictionary<string, object?>();
        if (tool is not null)
        {
            metadata[LlmConversation.ToolKey] = tool;
        }

        foreach (var (key, value) in usage)
        {
            metadata[key] = value;
        }

        // Some servers send calls without ids; the rebuilt conversation then makes one up from the message id.
        if (!string.IsNullOrEmpty(callId))
        {
            metadata[LlmConversation.CallIdKey] = callId;
        }

        metadata[LlmConversation.SeenIdKey] = seenId;
        return new AgentMessage(type, content, JsonSerializer.SerializeToElement(metadata));
    }

    /// <summary>
    /// The task ends with ERROR, carrying the turn's usage. The message is not part of the model's own turn (no seen
    /// id), so a later task shows it to the model as a session note rather than as a call it made.
    /// </summary>
    private static AgentStepResult Failed(string text, Dictionary<string, object?> usage, string reason, string state)
    {
        var metadata = new Dictionary<string, object?>(usage) { ["reason"] = reason };
        return new AgentStepResult(AgentStepStatus.Error,
            [new AgentMessage(MessageTypes.Error, JsonSerializer.SerializeToElement(text), JsonSerializer.SerializeToElement(metadata))], state);
    }

    private string CutOffHint(ChatResponse response) => response.FinishReason == ChatFinishReason.Length
        ? string.Create(CultureInfo.InvariantCulture,
            $" The answer was cut off at the output limit of {options.MaxOutputTokens} tokens (setting Agents__{Name}__MaxOutputTokens).")
        : string.Empty;

    private static JsonElement Text(string text) => JsonSerializer.SerializeToElement(Cut(text.Trim()));

    private static string Cut(string text) => text.Length <= MaxMessageChars ? text : string.Concat(text.AsSpan(0, MaxMessageChars), " [cut]");

    private static string Shorten(string text) => text.Length <= 60 ? text : string.Concat(text.AsSpan(0, 57), "...");
}
