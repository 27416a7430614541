using System.Text.Json;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents.Llm;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Tests.Infrastructure;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Http;
using static AgentSessions.Functions.Tests.Agents.Llm.FakeModelServer;

namespace AgentSessions.Functions.Tests.Agents.Llm;

/// <summary>
/// The optional <c>fetch_url</c> tool: pages come from the same loopback server as the model, so these tests turn on
/// <c>FetchAllowPrivateNetworks</c>, except those that prove the SSRF guard refuses loopback by default.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class FetchUrlTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string Article = """
        <!doctype html><html><head><title>Mugs &amp; more</title><style>body { color: red }</style>
        <script>var secret = "not text";</script></head>
        <body><h1>Red mug</h1><p>Price: <b>12&nbsp;EUR</b></p><ul><li>ceramic</li><li>350 ml</li></ul>
        <noscript>enable js</noscript><table><tr><td>stock</td><td>4</td></tr></table></body></html>
        """;

    private FakeModelServer server = null!;
    private IMessageStore store = null!;

    public async Task InitializeAsync()
    {
        server = await FakeModelServer.StartAsync();
        store = new TableMessageStore(new TableClient(azurite.ConnectionString, "fetch" + Guid.NewGuid().ToString("N")[..20]));
        server.Pages["/pages/mug"] = context => Page(context, "text/html; charset=utf-8", Article);
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    private LlmAgent Agent(Func<LlmAgentOptions, LlmAgentOptions>? configure = null) =>
        new(server.Options(configure: o =>
        {
            var fetching = o with { FetchUrl = true, FetchAllowPrivateNetworks = true };
            return configure is null ? fetching : configure(fetching);
        }), store, AgentHttpClients.Shared, TimeProvider.System);

    private string PageUrl(string path) => new Uri(server.BaseUrl, path).AbsoluteUri;

    private static Task Page(HttpContext context, string contentType, string body, int status = 200)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        return context.Response.WriteAsync(body, context.RequestAborted);
    }

    private async Task<JsonElement> FetchOnceAsync(LlmAgent agent, object arguments, string? startUrl = null)
    {
        server.ThenCalls(Call("fetch_url", arguments, id: "call_f"));
        var step = await new DeciderSession(store).StartAsync("Read the page", startUrl);
        var result = await agent.ExecuteStepAsync(step!, CancellationToken.None);
        Assert.Equal(AgentStepStatus.Running, result.Status);
        var log = Assert.Single(result.Messages);
        Assert.Equal(MessageTypes.Log, log.Type);
        Assert.Equal("fetch_url", log.Metadata!.Value.GetProperty("tool").GetString());
        return log.Content;
    }

    [Fact]
    public async Task FetchUrl_ReadsThePageAsText_AndTheNextTurnGetsItAsTheToolResult()
    {
        server.ThenCalls(Call("fetch_url", new { url = PageUrl("/pages/mug") }, id: "call_f"))
            .ThenCalls(Call("finish", new { summary = "12 EUR" }));
        var session = new DeciderSession(store);
        var agent = Agent();
        var step = await session.StartAsync("What does the red mug cost?");
        var turn = await agent.ExecuteStepAsync(step!, CancellationToken.None);
        var next = await session.CompleteAsync(step!, turn);
        await agent.ExecuteStepAsync(next!, CancellationToken.None);

        var log = Assert.Single(turn.Messages);
        var content = log.Content;
        Assert.Equal(PageUrl("/pages/mug"), content.GetProperty("url").GetString());
        Assert.Equal(200, content.GetProperty("status").GetInt32());
        Assert.Equal("text/html", content.GetProperty("content_type").GetString());
        Assert.Equal("Mugs & more", content.GetProperty("title").GetString());
        Assert.False(content.GetProperty("truncated").GetBoolean());
        Assert.Equal("Red mug\nPrice: 12 EUR\n- ceramic\n- 350 ml\nstock 4", content.GetProperty("text").GetString());
        Assert.Equal(PageUrl("/pages/mug"), log.Metadata!.Value.GetProperty("requested_url").GetString());
        Assert.True(log.Metadata.Value.GetProperty("fetch_ms").GetInt64() >= 0);

        var transcript = server.Requests[1].Transcript;
        Assert.Equal($$"""assistant: fetch_url({"url":"{{PageUrl("/pages/mug")}}"})""", transcript[2]);
        Assert.StartsWith("tool: [call_f] {", transcript[3]);
        Assert.Contains("Red mug\\nPrice: 12 EUR", transcript[3]);
    }

    [Fact]
    public async Task FetchUrl_WithoutUrl_ReadsTheTasksStartUrl()
    {
        var content = await FetchOnceAsync(Agent(), new { }, startUrl: PageUrl("/pages/mug"));

        Assert.Equal("Mugs & more", content.GetProperty("title").GetString());
        Assert.Equal(["/pages/mug"], server.PageRequests);
    }

    [Fact]
    public async Task FetchUrl_WithoutUrl_ReadsWhereTheUserNavigated_OverTheStartUrl()
    {
        server.Pages["/pages/other"] = context => Page(context, "text/plain", "the other page");
        server.ThenCalls(Call("think", new { text = "reading" }))
            .ThenCalls(Call("fetch_url", new { }));
        var session = new DeciderSession(store);
        var agent = Agent();
        var step = await session.StartAsync("Read", startUrl: PageUrl("/pages/mug"));
        var turn = await agent.ExecuteStepAsync(step!, CancellationToken.None);
        await session.ApplyAsync(new NavigateTo(PageUrl("/pages/other")));   // while step 1 runs
        var next = await session.CompleteAsync(step!, turn);
        var result = await agent.ExecuteStepAsync(next!, CancellationToken.None);

        Assert.Equal("the other page", Assert.Single(result.Messages).Content.GetProperty("text").GetString());
        Assert.Contains($"system: Session event: the user navigated the browser to {PageUrl("/pages/other")}.", server.Requests[1].Transcript);
        Assert.EndsWith($"The current page is {PageUrl("/pages/other")}.", server.Requests[1].Transcript[^1]);
    }

    [Fact]
    public async Task FetchUrl_WithoutUrlOrCurrentPage_TellsTheModel()
    {
        var content = await FetchOnceAsync(Agent(), new { });

        Assert.Contains("no url was given and there is no current page", content.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    public async Task FetchUrl_ToLoopback_IsRefusedByTheSsrfGuard_ByDefault_AndNothingIsRequested(string host)
    {
        var url = $"http://{host}:{server.BaseUrl.Port}/pages/mug";

        var content = await FetchOnceAsync(Agent(o => o with { FetchAllowPrivateNetworks = false }), new { url });

        Assert.StartsWith("refused: the host is or resolves to a loopback, private, link-local or metadata address", content.GetProperty("error").GetString());
        Assert.Empty(server.PageRequests);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://10.0.0.1/")]
    [InlineData("http://[::1]/")]
    public async Task FetchUrl_ToMetadataOrPrivateAddresses_IsRefused_WithoutConnecting(string url)
    {
        var content = await FetchOnceAsync(Agent(o => o with { FetchAllowPrivateNetworks = false }), new { url });

        Assert.StartsWith("refused:", content.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("ftp://example.com/x")]
    [InlineData("not a url")]
    public async Task FetchUrl_OfOtherSchemes_IsRefused(string url)
    {
        var content = await FetchOnceAsync(Agent(), new { url });

        Assert.Equal("only absolute http and https URLs can be fetched", content.GetProperty("error").GetString());
    }

    [Fact]
    public async Task FetchUrl_FollowsRedirects_ButNotToOtherSchemes_NorEndlessly()
    {
        server.Pages["/pages/moved"] = context => Redirect(context, "/pages/mug");
        server.Pages["/pages/to-file"] = context => Redirect(context, "file:///etc/passwd");
        server.Pages["/pages/loop"] = context => Redirect(context, "/pages/loop");

        var moved = await FetchOnceAsync(Agent(), new { url = PageUrl("/pages/moved") });
        var toFile = await FetchOnceAsync(Agent(), new { url = PageUrl("/pages/to-file") });
        var loop = await FetchOnceAsync(Agent(), new { url = PageUrl("/pages/loop") });

        Assert.Equal(PageUrl("/pages/mug"), moved.GetProperty("url").GetString());
        Assert.Equal("Mugs & more", moved.GetProperty("title").GetString());
        Assert.Equal("redirected to a file URL; only http and https can be fetched", toFile.GetProperty("error").GetString());
        Assert.Equal("more than 5 redirects", loop.GetProperty("error").GetString());
        Assert.Equal(6, server.PageRequests.Count(p => p == "/pages/loop"));
    }

    private static Task Redirect(HttpContext context, string location)
    {
        context.Response.StatusCode = 302;
        context.Response.Headers.Location = location;
        return Task.CompletedTask;
    }

    [Fact]
    public async Task FetchUrl_KeepsAtMostFetchMaxChars_AndReadsAtMostFetchMaxBytes()
    {
        server.Pages["/pages/long"] = context => Page(context, "text/plain", new string('a', 5000));
        server.Pages["/pages/huge"] = context => Page(context, "text/plain", new string('b', 300_000));

        var chars = await FetchOnceAsync(Agent(o => o with { FetchMaxChars = 1000 }), new { url = PageUrl("/pages/long") });
        var bytes = await FetchOnceAsync(Agent(o => o with { FetchMaxBytes = 2048 }), new { url = PageUrl("/pages/huge") });

        Assert.Equal(1000, chars.GetProperty("text").GetString()!.Length);
        Assert.True(chars.GetProperty("truncated").GetBoolean());
        Assert.Equal(2048, bytes.GetProperty("text").GetString()!.Length);
        Assert.True(bytes.GetProperty("truncated").GetBoolean());
    }

    [Fact]
    public async Task FetchUrl_ErrorsAndOtherContent_AreResultsForTheModel_NotFailures()
    {
        server.Pages["/pages/image"] = context => Page(context, "image/png", "\x89PNG");
        server.Pages["/pages/slow"] = context => Task.Delay(Timeout.Infinite, context.RequestAborted);

        var missing = await FetchOnceAsync(Agent(), new { url = PageUrl("/pages/none") });
        var image = await FetchOnceAsync(Agent(), new { url = PageUrl("/pages/image") });
        var slow = await FetchOnceAsync(Agent(o => o with { FetchTimeout = TimeSpan.FromSeconds(1) }), new { url = PageUrl("/pages/slow") });

        Assert.Equal("HTTP 404 (Not Found)", missing.GetProperty("error").GetString());
        Assert.Equal("the page is image/png, not text or HTML", image.GetProperty("error").GetString());
        Assert.Equal("no complete answer within 1 s", slow.GetProperty("error").GetString());
    }

    [Fact]
    public async Task FetchUrl_DecodesTheCharsetOfTheHeader_OrOfTheDocument()
    {
        server.Pages["/pages/latin"] = context => Bytes(context, "text/plain; charset=windows-1252", [0x63, 0x61, 0x66, 0xE9]);
        server.Pages["/pages/meta"] = context => Bytes(context, "text/html",
            [.. "<html><head><meta charset=\"iso-8859-1\"><title>t</title></head><body><p>na"u8.ToArray(), 0xEF, .. "ve</p></body></html>"u8.ToArray()]);

        var latin = await FetchOnceAsync(Agent(), new { url = PageUrl("/pages/latin") });
        var meta = await FetchOnceAsync(Agent(), new { url = PageUrl("/pages/meta") });

        Assert.Equal("café", latin.GetProperty("text").GetString());
        Assert.Equal("naïve", meta.GetProperty("text").GetString());
    }

    private static async Task Bytes(HttpContext context, string contentType, byte[] body)
    {
        context.Response.ContentType = contentType;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    [Fact]
    public async Task FetchUrl_AtMostThreePagesPerTurn()
    {
        var url = PageUrl("/pages/mug");
        server.ThenCalls([.. Enumerable.Range(0, 4).Select(_ => Call("fetch_url", new { url }))]);
        var step = await new DeciderSession(store).StartAsync("Read");

        var result = await Agent().ExecuteStepAsync(step!, CancellationToken.None);

        Assert.Equal(4, result.Messages.Count);
        Assert.Equal(3, server.PageRequests.Count);
        Assert.Equal("not fetched: at most 3 pages per step", result.Messages[3].Content.GetProperty("error").GetString());
    }
}
