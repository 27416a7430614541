using System.Collections.Concurrent;
using System.Text.Json;
using AgentSessions.Functions.SessionConsole;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AgentSessions.Functions.Tests.SessionConsole;

/// <summary>
/// The session console in a real browser (Debian's Chromium, driven by Playwright) against the whole API on
/// <see cref="ApiTestServer"/>, over the real orchestration and message store. Each test drives the page the way a
/// person would and checks what the page shows against what the service holds.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class ConsoleBrowserTests(AzuriteFixture azurite, ChromiumFixture chromium) : IClassFixture<ChromiumFixture>, IAsyncLifetime
{
    private const string Alice = "alice";
    private const string KeyItem = "agent-sessions.api-key";
    private static readonly float Wait = 20_000;

    private SessionTestHost host = null!;
    private ApiTestServer server = null!;
    private SessionsApi api = null!;
    private IBrowserContext context = null!;
    private IPage page = null!;
    private readonly ConcurrentQueue<string> pageErrors = new();
    private readonly ConcurrentQueue<string> dialogs = new();

    private string ConsoleUrl => new Uri(server.BaseAddress, "console/").ToString();

    private ILocator Transcript => page.Locator("#transcript");

    private ILocator Messages(string type) => page.Locator($"#transcript li.msg[data-type=\"{type}\"]");

    public async Task InitializeAsync()
    {
        SetDefaultExpectTimeout(Wait);
        host = await SessionTestHost.StartAsync(azurite);
        server = await ApiTestServer.StartAsync(host, new ApiTestServerOptions { Azurite = azurite });
        api = SessionsApi.Alice(host, server);
        context = await chromium.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 1200, Height = 900 },
            ColorScheme = ColorScheme.Light,
        });
        page = await context.NewPageAsync();
        page.SetDefaultTimeout(Wait);
        page.PageError += (_, error) => pageErrors.Enqueue(error);
        page.Console += (_, message) =>
        {
            // A CSP violation is reported only here; failed API calls (401, 404…) are logged too but are expected.
            if (message.Type == "error" && message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                pageErrors.Enqueue(message.Text);
            }
        };
        page.Dialog += async (_, dialog) =>
        {
            dialogs.Enqueue($"{dialog.Type}: {dialog.Message}");
            await dialog.DismissAsync();
        };
    }

    public async Task DisposeAsync()
    {
        await context.CloseAsync();
        await server.DisposeAsync();
        await host.DisposeAsync();
        Assert.Empty(pageErrors);
        Assert.Empty(server.Unhandled);
    }

    private async Task SignInAsync()
    {
        await page.GotoAsync(ConsoleUrl);
        await page.Locator("#api-key").FillAsync(SessionTestHost.AliceKey);
        await page.Locator("#api-key").PressAsync("Enter");
        await Expect(page.Locator("#list")).ToBeVisibleAsync();
    }

    private async Task OpenSessionAsync(string id)
    {
        await page.EvaluateAsync("id => { location.hash = '#/sessions/' + id; }", id);
        await Expect(page.Locator("#session")).ToBeVisibleAsync();
        await Expect(page.Locator("#session-id")).ToHaveTextAsync(id);
    }

    private async Task ExpectButtonsAsync(string status, bool pause, bool resume, bool cancel)
    {
        await Expect(page.Locator("#session-status")).ToHaveAttributeAsync("data-status", status);
        foreach (var (name, enabled) in new[] { ("#pause", pause), ("#resume", resume), ("#cancel", cancel) })
        {
            if (enabled)
            {
                await Expect(page.Locator(name)).ToBeEnabledAsync();
            }
            else
            {
                await Expect(page.Locator(name)).ToBeDisabledAsync();
            }
        }
    }

    private Task<int> CountAsync(ILocator locator) => locator.CountAsync();

    private Task WaitForMoreAsync(string type, int than) =>
        page.WaitForFunctionAsync(
            "([type, n]) => document.querySelectorAll(`#transcript li.msg[data-type=\"${type}\"]`).length > n",
            new object[] { type, than }, new PageWaitForFunctionOptions { Timeout = Wait });

    private static string Artifact(string name)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Functions.sln")))
        {
            root = root.Parent;
        }

        var folder = Path.Combine(root?.FullName ?? AppContext.BaseDirectory, "TestResults", "console");
        Directory.CreateDirectory(folder);
        return Path.Combine(folder, name);
    }

    [Fact]
    public async Task SignIn_RefusesABadKey_KeepsTheKeyInSessionStorageOnly_SignOutForgetsIt_A401SendsBackToSignIn()
    {
        var response = await page.GotoAsync(server.BaseAddress.ToString()); // "/" redirects to the console
        Assert.NotNull(response);
        Assert.EndsWith("/console/", page.Url, StringComparison.Ordinal);
        Assert.Equal(ConsoleFunctions.ContentSecurityPolicy, response.Headers["content-security-policy"]);
        Assert.True(await page.EvaluateAsync<bool>("() => [...document.scripts].every(s => s.src && !s.text.trim())"), "inline script in the console");
        await Expect(page.Locator("#sign-in")).ToBeVisibleAsync();

        // Keyboard only: the key field has focus, Enter submits.
        await page.Keyboard.TypeAsync("not-a-key");
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#sign-in-message")).ToContainTextAsync("refused");
        Assert.Null(await page.EvaluateAsync<string?>("k => sessionStorage.getItem(k)", KeyItem));

        await page.Locator("#api-key").FillAsync(SessionTestHost.AliceKey);
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#list")).ToBeVisibleAsync();
        Assert.Equal(SessionTestHost.AliceKey, await page.EvaluateAsync<string?>("k => sessionStorage.getItem(k)", KeyItem));
        Assert.Equal(0, await page.EvaluateAsync<int>("() => localStorage.length"));
        Assert.Equal(string.Empty, await page.EvaluateAsync<string>("() => document.cookie"));

        await page.Locator("#sign-out").ClickAsync();
        await Expect(page.Locator("#sign-in-message")).ToContainTextAsync("Signed out");
        Assert.Null(await page.EvaluateAsync<string?>("k => sessionStorage.getItem(k)", KeyItem));

        // A key that stops working (rotated away): the next refresh gets 401 and the page goes back to sign-in.
        await SignInAsync();
        await page.EvaluateAsync("k => sessionStorage.setItem(k, 'rotated-away')", KeyItem);
        await Expect(page.Locator("#sign-in-message")).ToContainTextAsync("401");
        await Expect(page.Locator("#list")).ToBeHiddenAsync();
        Assert.Null(await page.EvaluateAsync<string?>("k => sessionStorage.getItem(k)", KeyItem));
    }

    [Fact]
    public async Task Session_ThoughtsArriveLive_PauseHoldsAMessage_ResumeDeliversIt_CancelEndsTheTask()
    {
        await SignInAsync();
        await Expect(page.Locator("#create-agent option[value=\"agi-0\"]")).ToHaveCountAsync(1);
        await page.Locator("#create-goal").FillAsync("[steps=1000] [delay=250] compare laptop prices");
        await page.Locator("#create-form button[type=submit]").ClickAsync();
        await Expect(page.Locator("#session")).ToBeVisibleAsync();
        var id = (await page.Locator("#session-id").TextContentAsync())!;

        // Live: thoughts keep arriving on the open page, with no reload.
        await Expect(Messages("thought").First).ToBeVisibleAsync();
        var thoughts = await CountAsync(Messages("thought"));
        await WaitForMoreAsync("thought", thoughts + 1);
        await Expect(page.Locator("#stream-state")).ToHaveAttributeAsync("data-state", "open");
        await Expect(page.Locator("#transcript li.step").First).ToContainTextAsync("step 1");
        await ExpectButtonsAsync("running", pause: true, resume: false, cancel: true);

        await page.Locator("#pause").ClickAsync();
        await ExpectButtonsAsync("paused", pause: false, resume: true, cancel: true);
        await Expect(page.Locator("#command-note")).ToContainTextAsync("Paused");
        Assert.Equal("paused", await api.StatusOfAsync(id));
        await Expect(page.Locator("#transcript li.marker[data-marker=\"paused\"]")).ToHaveCountAsync(1);

        await page.Locator("#message-text").FillAsync("Also check Amazon");
        await page.Locator("#message-form button[type=submit]").ClickAsync();
        var held = Messages("user").Filter(new LocatorFilterOptions { HasText = "Also check Amazon" });
        await Expect(held.Locator(".badge.held")).ToHaveTextAsync("held until resume");
        await Expect(page.Locator("#message-note")).ToContainTextAsync("held");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Artifact("session.png"), FullPage = true });

        await page.Locator("#resume").ClickAsync();
        await ExpectButtonsAsync("running", pause: true, resume: false, cancel: true);
        await Expect(held.Locator(".badge.delivered")).ToHaveTextAsync("delivered on resume");
        await Expect(Messages("thought").Filter(new LocatorFilterOptions { HasText = "noted: Also check Amazon" })).ToHaveCountAsync(1);

        await page.Locator("#cancel").ClickAsync();
        await ExpectButtonsAsync("finished", pause: false, resume: false, cancel: false);
        await Expect(Messages("log").Filter(new LocatorFilterOptions { HasText = "reason: cancelled" })).ToHaveCountAsync(1);
        Assert.Equal("finished", await api.StatusOfAsync(id));
    }

    [Fact]
    public async Task Question_ShowsAnAnswerBox_TheAnswerReachesTheAgent()
    {
        var id = await api.CreateIdAsync("[ask] [steps=2] [delay=50] book a flight");
        await SignInAsync();
        await OpenSessionAsync(id);

        var question = Messages("question");
        await Expect(question).ToContainTextAsync("What should I keep in mind");
        await ExpectButtonsAsync("waiting_for_input", pause: true, resume: false, cancel: true);
        await question.Locator("form.answer textarea").FillAsync("window seat, no red-eye");
        await question.Locator("form.answer button").ClickAsync();

        await Expect(Messages("done")).ToContainTextAsync("keeping in mind: window seat, no red-eye");
        await ExpectButtonsAsync("finished", pause: false, resume: false, cancel: false);
        await Expect(page.Locator("#transcript form.answer")).ToHaveCountAsync(0);
        await Expect(page.Locator("#stream-state")).ToHaveAttributeAsync("data-state", "closed"); // the stream ends after done
    }

    [Fact]
    public async Task AgentContent_WithMarkup_ShowsAsText_AndRunsNothing()
    {
        const string markup = "<img src=x onerror=alert(1)>";
        var id = await api.CreateIdAsync($"{markup} [steps=2] [delay=50]");
        await SignInAsync();
        await Expect(page.Locator($"#sessions-body tr[data-session-id=\"{id}\"] td.goal")).ToContainTextAsync(markup);
        await OpenSessionAsync(id);

        await Expect(Messages("done")).ToHaveCountAsync(1);
        await Expect(Messages("thought").First.Locator(".text")).ToContainTextAsync(markup); // the literal characters
        Assert.Equal(0, await page.Locator("#transcript img, #sessions img, #session-goal img").CountAsync());
        await Expect(page.Locator("#session-goal")).ToContainTextAsync(markup);
        // Give a handler that should not exist every chance to run before looking for its dialog.
        await page.EvaluateAsync("() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 200)))");
        Assert.Empty(dialogs);
    }

    [Fact]
    public async Task DroppedStream_Resumes_WithoutDuplicatesOrGaps()
    {
        var id = await api.CreateIdAsync("[steps=1000] [delay=120] long task");
        await SignInAsync();
        await OpenSessionAsync(id);
        await WaitForMoreAsync("thought", 2);
        var seenBeforeDrop = await page.EvaluateAsync<long>(
            "() => Math.max(...[...document.querySelectorAll('#transcript li.msg')].map(li => Number(li.dataset.id)))");

        Assert.True(server.DropEventStreams() >= 1, "no open event stream to drop");
        await Eventually.ValueAsync(() => Task.FromResult(server.Requests.Where(r => r.Function == "StreamEvents" && r.LastEventId is not null).ToList()),
            reconnects => reconnects.Count > 0, TimeSpan.FromSeconds(15), "a reconnect with Last-Event-ID");
        var reconnect = server.Requests.First(r => r.Function == "StreamEvents" && r.LastEventId is not null);
        Assert.True(long.Parse(reconnect.LastEventId!, System.Globalization.CultureInfo.InvariantCulture) >= seenBeforeDrop,
            $"reconnected from {reconnect.LastEventId}, the page had shown up to {seenBeforeDrop}");
        var thoughts = await CountAsync(Messages("thought"));
        await WaitForMoreAsync("thought", thoughts + 2);

        (await api.CancelAsync(id)).Expect(200);
        await Expect(Messages("log").Filter(new LocatorFilterOptions { HasText = "reason: cancelled" })).ToHaveCountAsync(1);
        var shown = await page.EvaluateAsync<long[]>("() => [...document.querySelectorAll('#transcript li.msg')].map(li => Number(li.dataset.id))");
        var stored = (await host.MessagesAsync(Alice, id)).Select(m => m.Id).ToArray();
        Assert.Equal(stored, shown); // every message once, in order, none missing
        var steps = await page.EvaluateAsync<long[]>("() => [...document.querySelectorAll('#transcript li.step')].map(li => Number(li.dataset.stepId))");
        Assert.Equal(steps.Distinct().Count(), steps.Length);
    }

    [Fact]
    public async Task List_UpdatesLive_FiltersByStatus_DeletesOneAndAllAfterConfirmation()
    {
        await SignInAsync();
        await Expect(page.Locator("#sessions-empty")).ToContainTextAsync("No sessions yet");

        // Created elsewhere (another client): the open list shows them without a reload.
        var finished = await api.CreateIdAsync("[steps=2] [delay=50] summarise the quarterly report");
        var ready = await api.CreateIdAsync();
        var running = await api.CreateIdAsync("[steps=1000] [delay=500] watch the prices");
        await api.WaitForStatusAsync(finished, "finished");
        var rows = page.Locator("#sessions-body tr");
        await Expect(rows).ToHaveCountAsync(3);
        await Expect(page.Locator($"tr[data-session-id=\"{finished}\"] .status")).ToHaveAttributeAsync("data-status", "finished");
        await Expect(page.Locator($"tr[data-session-id=\"{finished}\"] td.goal")).ToContainTextAsync("summarise the quarterly report");
        await Expect(page.Locator($"tr[data-session-id=\"{running}\"] .status")).ToHaveAttributeAsync("data-status", "running");
        await Expect(rows.First).ToHaveAttributeAsync("data-session-id", running); // newest first
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Artifact("list.png"), FullPage = false });

        await page.Locator("#status-filter").SelectOptionAsync("ready");
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(rows.First).ToHaveAttributeAsync("data-session-id", ready);
        await page.Locator("#status-filter").SelectOptionAsync("");
        await Expect(rows).ToHaveCountAsync(3);

        // Delete asks first; "Keep" (focused, so Enter keeps) changes nothing.
        await page.Locator($"tr[data-session-id=\"{ready}\"] button").ClickAsync();
        await Expect(page.Locator("#confirm")).ToBeVisibleAsync();
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#confirm")).ToBeHiddenAsync();
        Assert.Equal(3, (await api.ListAsync()).Expect(200).Json.GetArrayLength());
        await page.Locator($"tr[data-session-id=\"{ready}\"] button").ClickAsync();
        await page.Locator("#confirm-ok").ClickAsync();
        await Expect(rows).ToHaveCountAsync(2);
        Assert.Equal(2, (await api.ListAsync()).Expect(200).Json.GetArrayLength());

        await page.Locator("#delete-all").ClickAsync();
        await Expect(page.Locator("#confirm-text")).ToContainTextAsync("Delete all 2 sessions");
        await page.Locator("#confirm-ok").ClickAsync();
        await Expect(page.Locator("#sessions-empty")).ToContainTextAsync("No sessions yet");
        Assert.Equal(0, (await api.ListAsync()).Expect(200).Json.GetArrayLength());

        // A session without a goal is ready: no command applies.
        await page.Locator("#create-form button[type=submit]").ClickAsync();
        await ExpectButtonsAsync("ready", pause: false, resume: false, cancel: false);
        // The scripted agent has no browser: the screenshot's 501 hides the tools and says why.
        await page.Locator("#browser summary").ClickAsync();
        await page.Locator("#screenshot").ClickAsync();
        await Expect(page.Locator("#browser-note")).ToContainTextAsync("no browser");
        await Expect(page.Locator("#browser-tools")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task PhoneWidth_DarkMode_NoSidewaysScrolling_DarkBackground()
    {
        await api.CreateIdAsync("[steps=2] [delay=50] a goal with a rather long description that must wrap on a phone screen");
        await page.SetViewportSizeAsync(390, 844);
        await page.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = ColorScheme.Dark });
        await SignInAsync();
        await Expect(page.Locator("#sessions-body tr")).ToHaveCountAsync(1);
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "the list scrolls sideways at 390 px");
        var background = await page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor");
        var channels = background.Split('(', ')')[1].Split(',').Take(3).Select(c => int.Parse(c.Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(channels.All(c => c < 64), $"dark mode background is {background}");
    }
}
